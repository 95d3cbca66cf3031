import '../../../src/lib/setup/plugins.js';
import { botStorageMessages } from '../../../src/lib/responses/storageMessages.js';
import { readdir } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { container, type Piece, type SapphireClient } from '@sapphire/framework';
import type { ClientOptions } from 'discord.js';
import type { GenerationOptions } from '../../../src/plugins/generation/index.js';
import type { StorageOptions } from '../../../src/plugins/storage/index.js';
import { botClientBehaviour } from '../../../src/lib/setup/client.js';
import { startWithoutGateway } from '../../helpers/sapphireHarness.js';
import { makeTempDir } from '../../helpers/storageFixtures.js';

export const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/** The piece folders Sapphire scans under the bot's directory, and the store each one fills. */
export const PIECE_FOLDERS = ['commands', 'listeners', 'preconditions', 'interaction-handlers'] as const;

export interface LoadedPiece {
	store: (typeof PIECE_FOLDERS)[number];
	name: string;
	file: string;
}

/**
 * Loads the bot's own pieces from src/ the way Sapphire's folder loader does (every file not starting
 * with `_`, every exported class of the store's kind, named after its file), but as virtual pieces:
 * Sapphire's loader imports files with Node's own `import()`, which cannot read TypeScript under vitest,
 * while these modules are imported through vitest and handed to the stores.
 */
export async function loadBotPieces(): Promise<LoadedPiece[]> {
	const loaded: LoadedPiece[] = [];
	for (const store of PIECE_FOLDERS) {
		for (const file of await listFiles(join(SRC, store))) {
			const name = basename(file, extname(file));
			if (name.startsWith('_') || !file.endsWith('.ts')) continue;
			const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
			const base = container.stores.get(store).Constructor as unknown as abstract new (...args: never[]) => Piece;
			const pieces = Object.values(module).filter(
				(value): value is typeof Piece => typeof value === 'function' && value.prototype instanceof base
			);
			if (pieces.length !== 1) throw new Error(`${relative(SRC, file)} exports ${pieces.length} pieces; expected one`);
			await container.stores.loadPiece({ store, name, piece: pieces[0] as never });
			loaded.push({ store, name, file: relative(SRC, file) });
		}
	}
	return loaded;
}

async function listFiles(directory: string): Promise<string[]> {
	const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
	const files: string[] = [];
	for (const entry of entries) {
		const path = join(directory, entry.name);
		if (entry.isDirectory()) files.push(...(await listFiles(path)));
		else files.push(path);
	}
	return files.sort();
}

/**
 * Sapphire registers its own listeners, preconditions and arguments (interactionCreate routing, Enabled...)
 * once, when the framework module is first imported, into the stores of the first client. A second client
 * in the same process gets new, empty stores: a real bot never makes two, but a test file does. So the
 * framework's pieces seen on the first client are remembered and given to every later one.
 */
const frameworkPieces = new Map<string, Map<string, typeof Piece>>();

export async function restoreFrameworkPieces(): Promise<void> {
	if (frameworkPieces.size === 0) {
		for (const [storeName, store] of container.stores) {
			const pieces = new Map<string, typeof Piece>();
			for (const [name, piece] of store) pieces.set(name, piece.constructor as typeof Piece);
			frameworkPieces.set(storeName, pieces);
		}
		return;
	}
	for (const [storeName, pieces] of frameworkPieces) {
		const store = container.stores.get(storeName as never) as unknown as {
			has(name: string): boolean;
			loadPiece(entry: object): Promise<void>;
		};
		for (const [name, piece] of pieces) if (!store.has(name)) await store.loadPiece({ name, piece });
	}
}

export interface BotOptions {
	storage?: StorageOptions;
	generation?: GenerationOptions;
	owners?: string[];
	/** Load only the plugins (the drop-in bot brings its own pieces). */
	withoutBotPieces?: boolean;
	/** Use this storage root (another run's) instead of a fresh one; it is not removed on close. */
	root?: string;
}

export interface TestBot {
	client: SapphireClient;
	root: string;
	pieces: LoadedPiece[];
	/** Stops the client and closes the services, keeping the files (a restart test starts again on them). */
	stop(): Promise<void>;
	/** Stops, then removes the temp folder. */
	close(): Promise<void>;
}

/**
 * A real SapphireClient with both plugins (offline preview provider, a temp storage root and a real
 * SQLite ledger) and the bot's pieces, started as `login()` would but without the gateway.
 */
export async function startTestBot(options: BotOptions = {}): Promise<TestBot> {
	const temp = options.root ? null : await makeTempDir('imagine-bot-');
	const root = options.root ?? join(temp!.dir, 'root');
	const clientOptions: Partial<ClientOptions> = {
		...botClientBehaviour,
		intents: [],
		storage: { storageRoot: root, cleanupIntervalMinutes: 0, messages: botStorageMessages, ...options.storage },
		generation: { provider: 'preview', ...options.generation },
		owners: options.owners ?? []
	};
	const client = await startWithoutGateway(clientOptions);
	await restoreFrameworkPieces();
	const pieces = options.withoutBotPieces ? [] : await loadBotPieces();
	let stopped: Promise<void> | null = null;
	const stop = () =>
		(stopped ??= (async () => {
			await container.imageJobs.drain(5000);
			await container.storage.close();
			await container.generator.close();
			await client.destroy();
		})());
	return {
		client,
		root,
		pieces,
		stop,
		close: async () => {
			await stop();
			await temp?.cleanup();
		}
	};
}

/** Hands an interaction to the client as the gateway would (`interactionCreate`). */
export function dispatch(client: SapphireClient, interaction: object): void {
	client.emit('interactionCreate', interaction as never);
}
