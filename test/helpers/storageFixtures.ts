import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageManager, type StorageManagerDependencies } from '../../src/plugins/storage/StorageManager.js';
import type { StorageOptions } from '../../src/plugins/storage/options.js';
import type { GuildSettingsRow } from '../../src/plugins/storage/ledger/QuotaLedger.js';
import { SqliteConnection } from '../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';

export const USER_A = '123456789012345678';
export const USER_B = '223456789012345678';
export const USER_C = '323456789012345678';

const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

/** Bytes the store recognises as a PNG (it sniffs the signature), padded to `size`. */
export function pngBytes(size = 1024, fill = 0x2a): Buffer {
	const data = Buffer.alloc(Math.max(size, PNG_SIGNATURE.length), fill);
	PNG_SIGNATURE.copy(data, 0);
	return data;
}

/** A server's settings as they are before its admins set anything, with `changes` over them. */
export function defaultGuildSettings(guildId: string, changes: Partial<GuildSettingsRow> = {}): GuildSettingsRow {
	return {
		guildId,
		enabled: true,
		channelIds: null,
		roleIds: null,
		memberDailyGens: null,
		guildDailyGens: null,
		nsfwLax: false,
		...changes
	};
}

/** A clock tests move by hand. */
export class ManualClock {
	public constructor(public now: number = Date.UTC(2026, 10, 21, 12, 0, 0)) {}
	public readonly read = (): number => this.now;
	public advance(ms: number): void {
		this.now += ms;
	}
}

/** A fresh folder under the OS temp dir, removed by `cleanup`. */
export async function makeTempDir(prefix = 'imagine-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
	const dir = await mkdtemp(join(tmpdir(), prefix));
	return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A storage manager on a real temp folder and a real SQLite ledger. `close` closes it and removes the folder.
 * The storage root is `<dir>/root`, so tests can keep canary files beside it in `<dir>`.
 */
export async function openTestStorage(options: StorageOptions = {}, dependencies: StorageManagerDependencies = {}) {
	const temp = await makeTempDir();
	const root = join(temp.dir, 'root');
	const manager = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, ...options }, dependencies);
	const fixture = {
		manager,
		root,
		dir: temp.dir,
		/** Opens a second manager on the same root and ledger (another process would do the same). */
		reopen: (more: StorageOptions = {}, deps: StorageManagerDependencies = dependencies) =>
			StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, ...options, ...more }, deps),
		/** Closes whichever manager `fixture.manager` holds now, then removes the folder. */
		close: async () => {
			await fixture.manager.close();
			await temp.cleanup();
		}
	};
	return fixture;
}

/**
 * The writer tags of the processes the ledger at `<root>/quota.sqlite` knows as live instances (a partial write
 * named with one of them belongs to a process that is running).
 */
export async function instanceTags(root: string): Promise<string[]> {
	const connection = await SqliteConnection.open(join(root, 'quota.sqlite'), 5000);
	try {
		return (await connection.all('SELECT id FROM imagine_instances ORDER BY started_at')).map((row) => String(row.id));
	} finally {
		await connection.close();
	}
}
