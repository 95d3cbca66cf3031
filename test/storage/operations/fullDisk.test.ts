import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteConnection } from '../../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { cliEnv, jsonOf, runInProcess } from '../../cli/helpers.js';
import { openTestStorage, pngBytes, USER_A } from '../../helpers/storageFixtures.js';
import { mountTinyDisk, tinyDiskUnavailable, type TinyDisk } from '../../helpers/tinyDisk.js';
import { exists } from '../safety/disk.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
	await cleanup?.();
	cleanup = undefined;
});

/** A storage on `disk` with three 200 kB images, closed again (as the bot leaves it when it stops). */
async function storageWithImages(disk: TinyDisk): Promise<{ root: string; ids: string[] }> {
	const root = join(disk.dir, 'root');
	const manager = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0 });
	const ids: string[] = [];
	for (let index = 0; index < 3; index++) {
		const saved = await manager.saveImage({ data: pngBytes(200_000), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		ids.push(saved.image.id);
	}
	await manager.close();
	return { root, ids };
}

describe.skipIf(tinyDiskUnavailable)(`a full disk${tinyDiskUnavailable ? ` (skipped: ${tinyDiskUnavailable})` : ''}`, () => {
	it('read-only commands, delete and clean-up still work (the storage gives up its space reserve), and the reserve comes back', async () => {
		const disk = mountTinyDisk(8192);
		cleanup = () => disk.unmount();
		const { root, ids } = await storageWithImages(disk);
		expect(await exists(join(root, '.imagine-reserve'))).toBe(true);
		disk.fill(0);

		const report = await runInProcess(['report', '--json'], cliEnv(root));
		expect(report.code).toBe(0);
		expect(jsonOf<{ global: { files: number } }>(report).global.files).toBe(3);
		expect(report.stderr).toContain('is full: gave up the storage');
		expect((await runInProcess(['images', '--user', USER_A, '--json'], cliEnv(root))).code).toBe(0);
		const deleted = await runInProcess(['delete', '--user', USER_A, '--image', ids[0] as string, '--json'], cliEnv(root));
		expect(deleted.code).toBe(0);
		expect((await runInProcess(['cleanup', '--json'], cliEnv(root))).code).toBe(0);

		await disk.free();
		const again = await runInProcess(['delete', '--user', USER_A, '--image', ids[1] as string, '--json'], cliEnv(root));
		expect(again.code).toBe(0);
		expect(jsonOf<{ global: { files: number } }>(await runInProcess(['report', '--json'], cliEnv(root))).global.files).toBe(1);
		expect(await exists(join(root, '.imagine-reserve'))).toBe(true);
	});

	it('with no reserve left, the error names the full disk instead of a bare "disk I/O error"', async () => {
		const disk = mountTinyDisk(8192);
		cleanup = () => disk.unmount();
		const { root } = await storageWithImages(disk);
		disk.fill(0);
		expect((await runInProcess(['report', '--json'], cliEnv(root))).code).toBe(0); // takes the reserve
		disk.fill(0); // and the disk fills up again
		const run = await runInProcess(['report', '--json'], cliEnv(root));
		expect(run.code).toBe(1);
		expect(jsonOf(run)).toMatchObject({
			reason: 'IO',
			message: expect.stringMatching(/is full \(\d+ bytes free\), so the quota ledger cannot be opened/)
		});
		expect(run.stdout).not.toContain('disk I/O error');
	});
});

describe('opening the storage', () => {
	it('writes nothing, so read-only commands never wait for another process holding the write lock', async () => {
		const storage = await openTestStorage();
		cleanup = storage.close;
		await storage.manager.saveImage({ data: pngBytes(), userId: USER_A });
		const lock = await SqliteConnection.open(join(storage.root, 'quota.sqlite'), 1000);
		await lock.exec('BEGIN IMMEDIATE');
		try {
			const env = cliEnv(storage.root);
			const report = await runInProcess(['report', '--json'], env);
			expect(report.code).toBe(0);
			expect((await runInProcess(['images', '--user', USER_A, '--json'], env)).code).toBe(0);
			expect((await runInProcess(['status', '--user', USER_A, '--json'], env)).code).toBe(0);
		} finally {
			await lock.exec('COMMIT');
			await lock.close();
		}
	});
});
