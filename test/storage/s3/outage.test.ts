import { afterEach, expect, it } from 'vitest';
import type { StorageOptions } from '../../../src/plugins/storage/options.js';
import type { S3TestServer } from '../../helpers/s3Server.js';
import { describeBackends, type Backend, type BackendStorage } from '../../helpers/storageBackends.js';
import { pngBytes, USER_A } from '../../helpers/storageFixtures.js';

/**
 * The S3 server goes down while the storage runs: every request that needs it answers an IO value (never a throw,
 * never a quota denial), nothing is charged, what the ledger alone can answer keeps working, and service resumes by
 * itself once the server is back.
 */

let storage: BackendStorage | undefined;

async function open(backend: Backend, options: StorageOptions = {}) {
	storage = await backend.open(options);
	return { manager: storage.manager, bucket: storage.bucket as string, s3: backend.s3 as S3TestServer };
}

describeBackends(['s3'], 'the S3 server is down', (backend) => {
	afterEach(async () => {
		await backend.s3?.restart();
		await storage?.close();
		storage = undefined;
	});

	it('a save is IO with nothing stored or charged, and the reservation comes back; saves work again once it is back', async () => {
		const { manager, bucket, s3 } = await open(backend, { maxUserDailyGens: 2 });
		const before = await manager.getQuotaStatus(USER_A);
		await s3.stop();

		const held = await manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);
		const saved = await manager.saveImage({ data: pngBytes(5000), userId: USER_A, reservation: held.reservation });
		expect(saved).toMatchObject({ ok: false, reason: 'IO', message: expect.stringMatching(/nothing was stored or charged/i) });
		expect((saved as { message: string }).message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|S3RVER|s3:\/\//);
		expect(await manager.saveImage({ data: pngBytes(5000), userId: USER_A })).toMatchObject({ ok: false, reason: 'IO' });

		const after = await manager.getQuotaStatus(USER_A);
		expect(after.daily).toEqual(before.daily);
		expect(after.user).toEqual(before.user);

		await s3.restart();
		const again = await manager.saveImage({ data: pngBytes(5000), userId: USER_A });
		expect(again.ok).toBe(true);
		expect(await s3.keys(bucket, 'imagine/images/')).toHaveLength(2);
	});

	it('reading, finding and deleting are IO; the gallery (from the ledger) still lists; nothing is lost', async () => {
		const { manager, s3 } = await open(backend);
		const data = pngBytes(3000, 5);
		const saved = await manager.saveImage({ data, userId: USER_A, metadata: { prompt: 'kept' } });
		if (!saved.ok) throw new Error(saved.message);
		await s3.stop();

		expect(await manager.readImage(USER_A, saved.image.id)).toMatchObject({ ok: false, reason: 'IO' });
		expect(await manager.getImagePath(USER_A, saved.image.id)).toMatchObject({ ok: false, reason: 'IO' });
		expect(await manager.deleteImage(USER_A, saved.image.id)).toMatchObject({ ok: false, reason: 'IO' });
		expect(await manager.deleteUserImages(USER_A)).toMatchObject({ ok: true, deleted: [], failed: [{ reason: 'IO' }] });
		const listed = await manager.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => image.metadata.prompt)).toEqual(['kept']);
		expect(await manager.cleanupOldFiles()).toEqual({ deleted: 0, freedMb: 0 });
		// A failed delete gave nothing back: the image still counts, and is still there once the server is back.
		expect((await manager.getQuotaStatus(USER_A)).user).toMatchObject({ files: 1, usedBytes: saved.image.bytes });

		await s3.restart();
		const read = await manager.readImage(USER_A, saved.image.id);
		expect(read.ok && read.data).toEqual(data);
		expect(await manager.deleteImage(USER_A, saved.image.id)).toMatchObject({ ok: true });
	});

	it('reconcile fails as a whole and corrects nothing; the next one, with the server back, finds the ledger right', async () => {
		const { manager, s3 } = await open(backend);
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		await s3.stop();
		await expect(manager.reconcile()).rejects.toThrow();
		expect((await manager.getQuotaStatus(USER_A)).user.files).toBe(1);
		await s3.restart();
		expect(await manager.reconcile()).toMatchObject({ added: 0, removed: 0, orphansRemoved: 0, files: 1 });
	});
});
