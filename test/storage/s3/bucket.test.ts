import { KeyvSqlite } from '@keyv/sqlite';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import type { StorageOptions } from '../../../src/plugins/storage/options.js';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import { MAX_IMAGE_BYTES } from '../../../src/plugins/storage/images/s3/S3ImageStore.js';
import { forEachLimited } from '../../../src/plugins/storage/images/forEachLimited.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import type { S3TestServer } from '../../helpers/s3Server.js';
import { describeBackends, type Backend, type BackendStorage } from '../../helpers/storageBackends.js';
import { pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';

/** What only a bucket has: listings of many pages, keys outside the layout, uploads visible before their commit. */

let storage: BackendStorage | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

async function open(backend: Backend, options: StorageOptions = {}) {
	storage = await backend.open(options);
	return { manager: storage.manager, bucket: storage.bucket as string, root: storage.root, s3: backend.s3 as S3TestServer };
}

function sidecarOf(imageId: string, userId: string): string {
	return `${JSON.stringify({ id: imageId, userId, name: imageId, createdAt: Date.now() - 60_000, temp: false, ext: 'png', metadata: {} })}\n`;
}

describeBackends(['s3'], 'reconcile on a bucket', (backend) => {
	it('reads a listing of several pages whole: 650 images (1,300 objects) adopted into a new ledger', { timeout: 120_000 }, async () => {
		const { manager, bucket, s3 } = await open(backend, { reconcileOnStart: false });
		const ids = Array.from({ length: 650 }, (_, index) => newImageId(Date.now() - 600_000 + index));
		const image = pngBytes(300);
		await forEachLimited(ids, 16, async (imageId) => {
			const userId = imageId.endsWith('0') ? USER_B : USER_A;
			await s3.putObject(bucket, `imagine/images/users/${userId}/${imageId}.json`, sidecarOf(imageId, userId));
			await s3.putObject(bucket, `imagine/images/users/${userId}/${imageId}.png`, image);
		});
		const report = await manager.reconcile();
		expect(report).toMatchObject({ added: 650, orphansRemoved: 0, ignored: [], files: 650 });
		const global = (await manager.getReport()).global;
		expect(global.files).toBe(650);
		const sidecarBytes = Buffer.byteLength(sidecarOf(ids[0] as string, USER_A));
		expect(global.usedBytes).toBe(650 * (image.length + sidecarBytes));
		expect(await manager.reconcile()).toMatchObject({ added: 0, removed: 0, resized: 0, files: 650 });
	});

	it('reports objects outside the layout, never counts or removes them, and never looks outside its prefix', async () => {
		const { manager, bucket, s3 } = await open(backend);
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		const strays = [
			'imagine/notes.txt',
			'imagine/images/',
			'imagine/images/users/not-a-user/0000000000000000.png',
			`imagine/images/users/${USER_A}/sub/0000000000000000.png`,
			`imagine/temp/${'A'.repeat(16)}.png`
		];
		const outside = ['other/images/users/123456789012345678/0000000000000001.png', 'imagine-other/x.png'];
		for (const key of [...strays, ...outside]) {
			await s3.putObject(bucket, key, pngBytes(100));
			await s3.backdate(bucket, key, 3_600_000);
		}
		const report = await manager.reconcile();
		expect(report.ignored.sort()).toEqual(strays.map((key) => `s3://${bucket}/${key}`).sort());
		expect(report).toMatchObject({ added: 0, orphansRemoved: 0, partialsRemoved: 0, files: 1 });
		for (const key of [...strays, ...outside]) expect(await s3.getObject(bucket, key)).not.toBeNull();
		expect((await manager.getReport()).global).toMatchObject({ files: 1, usedBytes: saved.image.bytes });
	});

	it('removes a sidecar without its image once past the grace, keeps a young one', async () => {
		const { manager, bucket, s3 } = await open(backend);
		await manager.saveImage({ data: pngBytes(), userId: USER_B });
		const old = newImageId(Date.now() - 600_000);
		const young = newImageId(Date.now());
		await s3.putObject(bucket, `imagine/images/users/${USER_A}/${old}.json`, sidecarOf(old, USER_A));
		await s3.backdate(bucket, `imagine/images/users/${USER_A}/${old}.json`, 600_000);
		await s3.putObject(bucket, `imagine/images/users/${USER_A}/${young}.json`, sidecarOf(young, USER_A));
		expect((await manager.reconcile()).partialsRemoved).toBe(1);
		expect(await s3.getObject(bucket, `imagine/images/users/${USER_A}/${old}.json`)).toBeNull();
		expect(await s3.getObject(bucket, `imagine/images/users/${USER_A}/${young}.json`)).not.toBeNull();
	});

	it('never removes the upload of a save that is waiting for its commit, however old it looks', { timeout: 60_000 }, async () => {
		const { manager, bucket, root, s3 } = await open(backend, { busyTimeoutMs: 30_000 });
		expect((await manager.saveImage({ data: pngBytes(), userId: USER_B })).ok).toBe(true);
		const reconciler = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, ...s3.storageOptions(bucket) });
		await reconciler.whenReconciled();
		const held = await manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);
		const lock = new KeyvSqlite({ uri: `sqlite://${join(root, 'quota.sqlite')}` });
		try {
			await lock.query('BEGIN IMMEDIATE');
			const saving = manager.saveImage({ data: pngBytes(6000, 3), userId: USER_A, reservation: held.reservation });
			// The upload lands, then the commit waits for the lock.
			let uploaded: string[] = [];
			for (let attempt = 0; attempt < 200 && uploaded.length < 2; attempt++) {
				uploaded = (await s3.keys(bucket, `imagine/images/users/${USER_A}/`)).filter((key) => !key.endsWith('/'));
				if (uploaded.length < 2) await sleep(25);
			}
			expect(uploaded).toHaveLength(2);
			for (const key of uploaded) await s3.backdate(bucket, key, 3_600_000);
			const reconciling = reconciler.reconcile();
			await sleep(1000);
			await lock.query('ROLLBACK');
			const [saved, report] = await Promise.all([saving, reconciling]);
			expect(saved.ok).toBe(true);
			expect(report.orphansRemoved).toBe(0);
			if (!saved.ok) return;
			const read = await manager.readImage(USER_A, saved.image.id);
			expect(read.ok && read.data).toEqual(pngBytes(6000, 3));
		} finally {
			await lock.disconnect();
			await reconciler.close();
		}
	});
});

describeBackends(['s3'], 'reading from a bucket', (backend) => {
	it('an object larger than any image under an image key is refused unread (IO), not loaded into memory', { timeout: 60_000 }, async () => {
		const { manager, bucket, s3 } = await open(backend);
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		await s3.putObject(bucket, `imagine/images/users/${USER_A}/${saved.image.id}.png`, Buffer.alloc(MAX_IMAGE_BYTES + 1));
		expect(await manager.readImage(USER_A, saved.image.id)).toMatchObject({ ok: false, reason: 'IO' });
	});
});
