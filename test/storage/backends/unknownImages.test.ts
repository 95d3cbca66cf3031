import { afterEach, expect, it } from 'vitest';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import { describeEachBackend, type BackendStorage } from '../../helpers/storageBackends.js';
import { instanceTags, pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';

/**
 * An image in the store that the ledger does not know. On the local disk an image is renamed into place only after
 * its commit, so such an image was committed once (a crash lost the row, a backup was restored): reconcile adds it.
 * In a bucket an upload lands before its commit, so such an image is one whose commit never happened: an orphan,
 * removed once it is older than the grace period (a minute) and its writer is not a live instance, never charged
 * to anyone. A ledger that knows no image at all (new, or lost) adopts every image on both.
 */

let storage: BackendStorage | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

const TEN_MINUTES = 10 * 60_000;

/** An image and its sidecar as a save leaves them before its commit; `writer` is the uploading process's tag. */
async function plantUpload(target: BackendStorage, userId: string, options: { writer?: string; ageMs?: number; temp?: boolean } = {}) {
	const imageId = newImageId(Date.now() - (options.ageMs ?? 0));
	const folder = options.temp ? 'temp' : `images/users/${userId}`;
	const sidecar = `${JSON.stringify({ id: imageId, userId, name: 'uploaded', createdAt: Date.now(), temp: options.temp ?? false, ext: 'png', metadata: { prompt: 'never committed' } })}\n`;
	const files = [`${folder}/${imageId}.json`, `${folder}/${imageId}.png`];
	await target.store.write(files[0] as string, sidecar, { writer: options.writer });
	await target.store.write(files[1] as string, pngBytes(4000), { writer: options.writer });
	if (options.ageMs) for (const file of files) await target.store.backdate(file, options.ageMs);
	return { imageId, files };
}

/** A tag no live process has: its process is gone (it never registered, or shut down and removed its row). */
const GONE_WRITER = 'dead0001';

describeEachBackend('an image the ledger does not know', (backend) => {
	it('older than the grace, its writer gone: added on the local disk, removed from a bucket and counted', async () => {
		storage = await backend.open();
		const kept = await storage.manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!kept.ok) throw new Error(kept.message);
		const upload = await plantUpload(storage, USER_A, { writer: GONE_WRITER, ageMs: TEN_MINUTES });
		const tempUpload = await plantUpload(storage, USER_B, { writer: GONE_WRITER, ageMs: TEN_MINUTES, temp: true });

		const report = await storage.manager.reconcile();
		const listed = await storage.manager.getUserImages(USER_A);
		if (backend.visibleBeforeCommit) {
			expect(report).toMatchObject({ added: 0, orphansRemoved: 2, files: 1 });
			expect(await storage.store.list()).toEqual([
				`images/users/${USER_A}/${kept.image.id}.json`,
				`images/users/${USER_A}/${kept.image.id}.png`
			]);
			expect(listed.ok && listed.images.map((image) => image.id)).toEqual([kept.image.id]);
			expect((await storage.manager.getReport()).global).toMatchObject({ files: 1, usedBytes: kept.image.bytes });
		} else {
			expect(report).toMatchObject({ added: 2, orphansRemoved: 0, files: 3 });
			expect(await storage.store.list()).toEqual(expect.arrayContaining([...upload.files, ...tempUpload.files]));
			expect(listed.ok && listed.images.map((image) => image.id).sort()).toEqual([kept.image.id, upload.imageId].sort());
		}
		// A second reconcile finds nothing more to do.
		expect(await storage.manager.reconcile()).toMatchObject({ added: 0, removed: 0, orphansRemoved: 0 });
	});

	it('younger than the grace: left alone and not charged (its save may be about to commit)', async () => {
		storage = await backend.open();
		await storage.manager.saveImage({ data: pngBytes(), userId: USER_B });
		const upload = await plantUpload(storage, USER_A, { writer: GONE_WRITER });
		const report = await storage.manager.reconcile();
		expect(report.orphansRemoved).toBe(0);
		expect(await storage.store.list()).toEqual(expect.arrayContaining(upload.files));
		if (backend.visibleBeforeCommit) {
			expect(report.added).toBe(0);
			expect((await storage.manager.getQuotaStatus(USER_A)).user).toMatchObject({ files: 0, usedBytes: 0 });
		}
	});

	it("a live writer's upload is never removed, however old; once that writer is gone it is", async () => {
		storage = await backend.open();
		// The writer is a running storage (another process in production): it registers when it first saves.
		const writer = await storage.reopen({ reconcileOnStart: false });
		let writerOpen = true;
		try {
			const before = await instanceTags(storage.root);
			expect((await writer.saveImage({ data: pngBytes(), userId: USER_B })).ok).toBe(true);
			const liveTag = (await instanceTags(storage.root)).find((tag) => !before.includes(tag));
			if (!liveTag) throw new Error('the writer did not register');
			const upload = await plantUpload(storage, USER_A, { writer: liveTag, ageMs: 2 * 3_600_000 });

			const whileAlive = await storage.manager.reconcile();
			expect(whileAlive.orphansRemoved).toBe(0);
			expect(whileAlive.added).toBe(backend.visibleBeforeCommit ? 0 : 1);
			expect(await storage.store.list()).toEqual(expect.arrayContaining(upload.files));

			await writer.close();
			writerOpen = false;
			const afterwards = await storage.manager.reconcile();
			expect(afterwards.orphansRemoved).toBe(backend.visibleBeforeCommit ? 1 : 0);
			expect(await storage.store.read(upload.files[1] as string)).toEqual(backend.visibleBeforeCommit ? null : pngBytes(4000));
		} finally {
			if (writerOpen) await writer.close();
		}
	});

	it('an image written without a writer (by hand, or by another tool) counts as abandoned once past the grace', async () => {
		storage = await backend.open();
		await storage.manager.saveImage({ data: pngBytes(), userId: USER_B });
		const upload = await plantUpload(storage, USER_A, { ageMs: TEN_MINUTES });
		const report = await storage.manager.reconcile();
		if (backend.visibleBeforeCommit) {
			expect(report.orphansRemoved).toBe(1);
			expect(await storage.store.read(upload.files[1] as string)).toBeNull();
		} else expect(report.added).toBe(1);
	});

	it('a ledger that knows no image adopts every image, whatever its writer (a new or lost ledger)', async () => {
		storage = await backend.open();
		const upload = await plantUpload(storage, USER_A, { writer: GONE_WRITER, ageMs: TEN_MINUTES });
		const report = await storage.manager.reconcile();
		expect(report).toMatchObject({ added: 1, orphansRemoved: 0 });
		const listed = await storage.manager.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => [image.id, image.metadata.prompt])).toEqual([[upload.imageId, 'never committed']]);
		expect((await storage.manager.readImage(USER_A, upload.imageId)).ok).toBe(true);
	});
});
