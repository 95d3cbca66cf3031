import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteConnection } from '../../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import { openTestStorage, pngBytes, USER_A } from '../../helpers/storageFixtures.js';

/**
 * Reconcile is safe beside everything: an image or temp file deleted while it scans (a user's delete, the bot's
 * own clean-up, an operator's `rm`) is simply gone, never an error that stops the rebuild half-way.
 */

const FILES = 3000;
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
	await close?.();
	close = undefined;
});

/** Images (with sidecars) written straight to disk, as a crash or a restored backup leaves them: the ledger knows none. */
async function imagesOnDisk(root: string, count: number): Promise<string[]> {
	const userDir = join(root, 'images', 'users', USER_A);
	const tempDir = join(root, 'temp');
	await mkdir(userDir, { recursive: true });
	const paths: string[] = [];
	const png = pngBytes(256);
	for (let index = 0; index < count; index++) {
		const id = newImageId(Date.now() - 86_400_000 + index);
		const dir = index % 4 === 0 ? tempDir : userDir;
		const sidecar = JSON.stringify({
			id,
			userId: USER_A,
			name: id,
			createdAt: Date.now() - 86_400_000,
			temp: dir === tempDir,
			ext: 'png',
			metadata: {}
		});
		await writeFile(join(dir, `${id}.json`), sidecar);
		await writeFile(join(dir, `${id}.png`), png);
		paths.push(join(dir, `${id}.png`), join(dir, `${id}.json`));
	}
	return paths;
}

describe('reconcile beside deletions', () => {
	it(`finishes while ${FILES} images vanish under it, and a second run agrees with what is left`, { timeout: 120_000 }, async () => {
		const storage = await openTestStorage({ reconcileOnStart: false });
		close = storage.close;
		const paths = await imagesOnDisk(storage.root, FILES);
		// Delete from the end while the scan reads from the start, so they cross in the middle.
		const deleting = (async () => {
			for (let index = paths.length - 1; index >= 0; index -= 2) {
				await rm(paths[index - 1] as string, { force: true });
				await rm(paths[index] as string, { force: true });
			}
		})();
		const report = await storage.manager.reconcile();
		await deleting;
		expect(report.files).toBeGreaterThanOrEqual(0);

		const again = await storage.manager.reconcile();
		expect(again.files).toBe(0);
		const status = await storage.manager.getQuotaStatus(USER_A);
		expect(status.global.files).toBe(0);
		expect(status.user.usedBytes).toBe(0);
	});
});

describe('a start-up reconcile that fails', () => {
	it('is tried again until the rebuilt ledger knows the images', { timeout: 30_000 }, async () => {
		const first = await openTestStorage();
		await first.manager.close();
		await imagesOnDisk(first.root, 3);
		// Another process holds the ledger's write lock past the busy time-out while the storage starts.
		const lock = await SqliteConnection.open(join(first.root, 'quota.sqlite'), 1000);
		await lock.exec('BEGIN IMMEDIATE');
		const errors: string[] = [];
		first.manager = await first.reopen(
			{ busyTimeoutMs: 50 },
			{ logger: { info: () => undefined, warn: () => undefined, error: (message) => errors.push(message) } }
		);
		close = first.close;
		expect(await first.manager.whenReconciled()).toBeNull();
		expect(errors[0]).toMatch(/^Start-up reconcile failed; .* runs again in 1 s$/);
		expect((await first.manager.getQuotaStatus(USER_A)).global.files).toBe(0);

		await lock.exec('COMMIT');
		await lock.close();
		await vi.waitFor(async () => expect((await first.manager.getQuotaStatus(USER_A)).global.files).toBe(3), {
			timeout: 10_000,
			interval: 200
		});
	});
});
