import { join } from 'node:path';
import { describe } from 'vitest';
import type { StorageOptions } from '../../src/plugins/storage/options.js';
import { StorageManager, type StorageManagerDependencies } from '../../src/plugins/storage/StorageManager.js';
import { createTestSchema, postgresSkipNote, postgresUnavailable } from '../helpers/postgres.js';
import { makeTempDir } from '../helpers/storageFixtures.js';

/**
 * The owners' controls live in the ledger, so their suites run once per ledger backend: SQLite (a file under a temp
 * storage root) and PostgreSQL (a schema of its own on the test server; skipped, saying why, where none answers).
 */
/** The servers the controls' tests act in. */
export const GUILD = '111111111111111111';
export const OTHER_GUILD = '222222222222222222';

export type LedgerName = 'sqlite' | 'postgres';

export interface ControlsFixture {
	manager: StorageManager;
	root: string;
	/** The ledger's URI (a SQLite file or a PostgreSQL schema), for a test that opens the ledger port itself. */
	ledgerUri: string;
	/** Another manager on the same ledger and store, as another process (a shard, the CLI) opens it. */
	reopen(more?: StorageOptions, dependencies?: StorageManagerDependencies): Promise<StorageManager>;
	close(): Promise<void>;
}

export interface LedgerBackend {
	name: LedgerName;
	open(options?: StorageOptions, dependencies?: StorageManagerDependencies): Promise<ControlsFixture>;
}

export function describeEachLedger(title: string, body: (backend: LedgerBackend) => void): void {
	describe(`${title} [sqlite]`, () => body({ name: 'sqlite', open: (options, dependencies) => openFixture(null, options, dependencies) }));
	describe.skipIf(postgresUnavailable)(`${title} [postgres]${postgresSkipNote}`, () =>
		body({ name: 'postgres', open: async (options, dependencies) => openFixture(await createTestSchema(), options, dependencies) })
	);
}

async function openFixture(
	schema: Awaited<ReturnType<typeof createTestSchema>> | null,
	options: StorageOptions = {},
	dependencies: StorageManagerDependencies = {}
): Promise<ControlsFixture> {
	const temp = await makeTempDir();
	const root = join(temp.dir, 'root');
	const base: StorageOptions = { storageRoot: root, cleanupIntervalMinutes: 0, ...(schema ? { ledgerUri: schema.uri() } : {}), ...options };
	const opened: StorageManager[] = [];
	const manager = await StorageManager.open(base, dependencies);
	opened.push(manager);
	return {
		manager,
		root,
		ledgerUri: manager.options.ledgerUri,
		reopen: async (more = {}, deps = dependencies) => {
			const another = await StorageManager.open({ ...base, ...more }, deps);
			opened.push(another);
			return another;
		},
		close: async () => {
			for (const each of opened.reverse()) await each.close().catch(() => undefined);
			await schema?.drop();
			await temp.cleanup();
		}
	};
}
