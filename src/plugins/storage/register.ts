import { isAbsolute } from 'node:path';
import { container, Plugin, postInitialization, preLogin, SapphireClient } from '@sapphire/framework';
import type { ClientOptions } from 'discord.js';
import { resolveStorageOptions, type ResolvedStorageOptions } from './options.js';
import { loadQuotaPreconditions } from './preconditions/_load.js';
import { StorageManager, type StorageLogger } from './StorageManager.js';
import './index.js';

interface ClientStorage {
	/** Resolved once, when the client is built: a relative storageRoot means the working directory of that moment. */
	options: ResolvedStorageOptions;
	/** The manager this client opened at login, closed by its destroy(). */
	manager?: StorageManager;
}

const storageOf = new WeakMap<SapphireClient, ClientStorage>();

/**
 * `import 'sapphire-imagine/storage/register'` adds `container.storage` and the DailyLimit, UserStorage and
 * GlobalStorage preconditions to any Sapphire bot. Options are checked when the client is constructed,
 * so a typo fails at start-up with the field's name; the ledger opens (and reconciles) before login and
 * closes with `client.destroy()`.
 */
export class StoragePlugin extends Plugin {
	public static override [postInitialization](this: SapphireClient, options: ClientOptions): void {
		storageOf.set(this, { options: resolveStorageOptions(options.storage) });
		loadQuotaPreconditions();
		closeStorageOnDestroy(this);
	}

	public static override async [preLogin](this: SapphireClient, options: ClientOptions): Promise<void> {
		const logger: StorageLogger = {
			info: (message, details) => container.logger.info(message, details ?? ''),
			warn: (message, details) => container.logger.warn(message, details ?? ''),
			error: (message, details) => container.logger.error(message, details ?? '')
		};
		const state = storageOf.get(this) ?? { options: resolveStorageOptions(options.storage) };
		storageOf.set(this, state);
		state.manager = await StorageManager.open(state.options, { logger });
		container.storage = state.manager;
		logger.info(describeStorageRoot(options.storage?.storageRoot, state.options.storageRoot));
		container.storage.startAutomaticCleanup();
	}
}

/** Where images and the ledger went; for a relative (or default) root, what it was resolved against. */
function describeStorageRoot(configured: string | undefined, resolved: string): string {
	const where = `Images and the quota ledger are stored in ${resolved}`;
	if (configured !== undefined && isAbsolute(configured)) return where;
	const given = configured === undefined ? 'the default storageRoot' : `storageRoot "${configured}"`;
	return `${where} (${given}, relative to the working directory)`;
}

/**
 * discord.js's destroy() knows nothing of the ledger: without this a bot that stops leaves the SQLite
 * connection open and its -wal and -shm files behind. The gateway closes first, so no interaction can
 * reach a closed ledger.
 */
function closeStorageOnDestroy(client: SapphireClient): void {
	const destroy = client.destroy.bind(client);
	client.destroy = async () => {
		try {
			await destroy();
		} finally {
			await storageOf.get(client)?.manager?.close();
		}
	};
}

SapphireClient.plugins.registerPostInitializationHook(StoragePlugin[postInitialization], 'Storage-PostInitialization');
SapphireClient.plugins.registerPreLoginHook(StoragePlugin[preLogin], 'Storage-PreLogin');
