import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { describeEachBackend, type BackendStorage } from '../../helpers/storageBackends.js';
import { ManualClock, pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';

let storage: BackendStorage | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

const userFile = (userId: string, name: string) => `images/users/${userId}/${name}`;

describeEachBackend('saving and listing images', (backend) => {
	it('stores the bytes under images/users/<id>/<imageId>.<ext> with the metadata beside them', async () => {
		storage = await backend.open();
		const data = pngBytes(2048, 7);
		const saved = await storage.manager.saveImage({
			data,
			userId: USER_A,
			name: 'lighthouse v2',
			metadata: { prompt: 'a lighthouse at dusk', seed: 42, style: 'analog-film', provider: 'preview' }
		});
		if (!saved.ok) throw new Error(saved.message);
		const { image } = saved;
		expect(image.id).toMatch(/^[0-9a-z]{16}$/);
		expect(image.path).toBe(storage.store.address(userFile(USER_A, `${image.id}.png`)));
		expect(image).toMatchObject({ userId: USER_A, name: 'lighthouse v2', temp: false, mimeType: 'image/png' });
		expect(await storage.store.read(userFile(USER_A, `${image.id}.png`))).toEqual(data);
		const sidecarBytes = (await storage.store.read(userFile(USER_A, `${image.id}.json`))) as Buffer;
		expect(JSON.parse(sidecarBytes.toString('utf8')).metadata).toEqual({
			prompt: 'a lighthouse at dusk',
			seed: 42,
			style: 'analog-film',
			provider: 'preview'
		});
		// What counts against the quota is what is stored: the image and its metadata.
		expect(image.bytes).toBe(data.length + sidecarBytes.length);
		expect(await storage.store.list()).toEqual([userFile(USER_A, `${image.id}.json`), userFile(USER_A, `${image.id}.png`)]);
	});

	it('names the file after what the bytes are, not what the caller says', async () => {
		storage = await backend.open();
		const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(100)]);
		const webp = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBP'), Buffer.alloc(100)]);
		const savedJpeg = await storage.manager.saveImage({ data: jpeg, userId: USER_A, name: 'photo.png' });
		const savedWebp = await storage.manager.saveImage({ data: webp, userId: USER_A });
		expect(savedJpeg.ok && savedJpeg.image.path.endsWith('.jpg')).toBe(true);
		expect(savedJpeg.ok && savedJpeg.image.mimeType).toBe('image/jpeg');
		expect(savedWebp.ok && savedWebp.image.mimeType).toBe('image/webp');
	});

	it('lists a user their own images, newest first, with their metadata', async () => {
		const clock = new ManualClock();
		storage = await backend.open({}, { clock: clock.read });
		const ids: string[] = [];
		for (const prompt of ['first', 'second', 'third']) {
			const saved = await storage.manager.saveImage({ data: pngBytes(), userId: USER_A, metadata: { prompt } });
			if (saved.ok) ids.push(saved.image.id);
			clock.advance(1000);
		}
		await storage.manager.saveImage({ data: pngBytes(), userId: USER_B, metadata: { prompt: 'not yours' } });
		await storage.manager.saveImage({ data: pngBytes(), userId: USER_A, temp: true, metadata: { prompt: 'temp' } });
		const listed = await storage.manager.getUserImages(USER_A);
		if (!listed.ok) throw new Error(listed.message);
		expect(listed.images.map((image) => image.metadata.prompt)).toEqual(['third', 'second', 'first']);
		expect(listed.images.map((image) => image.id)).toEqual(ids.reverse());
		expect(listed.images[0]?.createdAt.getTime()).toBe(clock.now - 1000);
	});

	it('finds and reads an image by id for its owner only', async () => {
		storage = await backend.open();
		const data = pngBytes(3000, 9);
		const saved = await storage.manager.saveImage({ data, userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		expect(await storage.manager.getImagePath(USER_A, saved.image.id)).toMatchObject({ ok: true, path: saved.image.path });
		expect(await storage.manager.getImagePath(USER_B, saved.image.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		const read = await storage.manager.readImage(USER_A, saved.image.id);
		expect(read.ok && read.data).toEqual(data);
		expect(await storage.manager.readImage(USER_B, saved.image.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.deleteImage(USER_B, saved.image.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.store.read(userFile(USER_A, `${saved.image.id}.png`))).toEqual(data);
	});

	it('deletes the image and its metadata; a second delete is NOT_FOUND', async () => {
		storage = await backend.open();
		const saved = await storage.manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		expect(await storage.manager.deleteImage(USER_A, saved.image.id)).toMatchObject({ ok: true });
		expect(await storage.store.list()).toEqual([]);
		expect(await storage.manager.deleteImage(USER_A, saved.image.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.getUserImages(USER_A)).toMatchObject({ ok: true, images: [] });
	});

	it('refuses what is not an image, with a message saying what is accepted', async () => {
		storage = await backend.open();
		const saved = await storage.manager.saveImage({ data: Buffer.from('<html>not an image</html>'), userId: USER_A });
		expect(saved).toEqual({
			ok: false,
			reason: 'INVALID_IMAGE',
			message: 'That file is not an image this bot can store (PNG, JPEG, WebP or GIF).'
		});
		expect(await storage.store.list()).toEqual([]);
	});

	it('twenty saves at once each land whole and readable', async () => {
		storage = await backend.open();
		const { manager } = storage;
		const inputs = Array.from({ length: 20 }, (_, index) => pngBytes(20_000 + index * 97, index + 1));
		const results = await Promise.all(inputs.map((data) => manager.saveImage({ data, userId: USER_A })));
		for (const [index, result] of results.entries()) {
			if (!result.ok) throw new Error(result.message);
			expect(await storage.store.read(userFile(USER_A, `${result.image.id}.png`))).toEqual(inputs[index]);
		}
		expect(await storage.store.list()).toHaveLength(40);
		expect((await manager.getQuotaStatus(USER_A)).user.files).toBe(20);
	});
});

describeEachBackend("an owner's storage reset", (backend) => {
	it("deletes every saved image of one user, gives the bytes back and leaves others' and temp files alone", async () => {
		storage = await backend.open();
		const { manager } = storage;
		for (let i = 0; i < 3; i++) await manager.saveImage({ data: pngBytes(2048), userId: USER_A });
		const temp = await manager.saveImage({ data: pngBytes(), userId: USER_A, temp: true });
		const other = await manager.saveImage({ data: pngBytes(), userId: USER_B });
		if (!temp.ok || !other.ok) throw new Error('setup saves failed');
		const result = await manager.deleteUserImages(USER_A);
		expect(result).toMatchObject({ ok: true, missing: [], failed: [] });
		expect(result.ok && result.deleted).toHaveLength(3);
		expect((await manager.getQuotaStatus(USER_A)).user).toMatchObject({ usedBytes: 0, files: 0 });
		expect(await storage.store.list()).toEqual(
			[
				`temp/${temp.image.id}.json`,
				`temp/${temp.image.id}.png`,
				userFile(USER_B, `${other.image.id}.json`),
				userFile(USER_B, `${other.image.id}.png`)
			].sort()
		);
		expect(await manager.deleteUserImages('../../etc')).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await manager.resetUser('../../etc', { daily: true, storage: true })).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
	});

	it('resetUser gives the day back and empties the gallery in one call', async () => {
		storage = await backend.open({ maxUserDailyGens: 1 });
		const { manager } = storage;
		const held = await manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);
		expect((await manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: held.reservation })).ok).toBe(true);
		const reset = await manager.resetUser(USER_A, { daily: true, storage: true });
		expect(reset).toMatchObject({ ok: true, daily: { previous: 1 }, storage: { missing: [], failed: [] } });
		expect(reset.ok && reset.storage?.deleted).toHaveLength(1);
		expect(await manager.getQuotaStatus(USER_A)).toMatchObject({ daily: { used: 0, remaining: 1 }, user: { files: 0 } });
		expect(await storage.store.list()).toEqual([]);
	});
});

describeEachBackend('clean-up of old temp files', (backend) => {
	it('removes temp files older than cleanupDays, keeps newer ones and never touches saved images', async () => {
		const clock = new ManualClock();
		storage = await backend.open({ cleanupDays: 7 }, { clock: clock.read });
		const { manager } = storage;
		const oldTemp = await manager.saveImage({ data: pngBytes(3 * 1024 * 1024), userId: USER_A, temp: true });
		const oldSaved = await manager.saveImage({ data: pngBytes(), userId: USER_A });
		clock.advance(6 * 86_400_000);
		const newTemp = await manager.saveImage({ data: pngBytes(), userId: USER_B, temp: true });
		clock.advance(1 * 86_400_000 + 1);
		if (!oldTemp.ok || !oldSaved.ok || !newTemp.ok) throw new Error('saves should succeed');

		const result = await manager.cleanupOldFiles();
		expect(result).toEqual({ deleted: 1, freedMb: 3 });
		expect(await storage.store.list()).toEqual(
			[
				`temp/${newTemp.image.id}.json`,
				`temp/${newTemp.image.id}.png`,
				userFile(USER_A, `${oldSaved.image.id}.json`),
				userFile(USER_A, `${oldSaved.image.id}.png`)
			].sort()
		);
		expect((await manager.getQuotaStatus(USER_A)).global.tempMb).toBeLessThan(0.01);
		expect(await manager.cleanupOldFiles()).toEqual({ deleted: 0, freedMb: 0 });
	});
});

describeEachBackend('the event log', (backend) => {
	it('records saves, deletes, clean-ups and denials as JSON lines an owner can read, under STORAGE_ROOT', async () => {
		storage = await backend.open({ maxUserDailyGens: 0 });
		const { manager } = storage;
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		await manager.deleteImage(USER_A, saved.image.id);
		await manager.reserve(USER_A);
		await manager.cleanupOldFiles();
		await manager.close();
		storage.manager = await storage.reopen({ reconcileOnStart: false });
		const lines = (await readFile(join(storage.root, 'logs', 'events.jsonl'), 'utf8'))
			.trim()
			.split('\n')
			.map((line) => JSON.parse(line));
		expect(lines.map((line) => line.type)).toEqual(['reconcile', 'save', 'delete', 'denial', 'cleanup']);
		expect(lines[1]).toMatchObject({ type: 'save', userId: USER_A, imageId: saved.image.id, bytes: saved.image.bytes });
		expect(lines[3]).toMatchObject({ type: 'denial', userId: USER_A, reason: 'DAILY_LIMIT' });
		for (const line of lines) expect(Number.isNaN(Date.parse(line.at))).toBe(false);
	});
});

describeEachBackend('reconcile', (backend) => {
	it('rebuilds a ledger that disagrees with the store', async () => {
		const clock = new ManualClock(Date.now());
		storage = await backend.open({}, { clock: clock.read });
		const kept = await storage.manager.saveImage({ data: pngBytes(1000), userId: USER_A });
		const removedByHand = await storage.manager.saveImage({ data: pngBytes(5000), userId: USER_A });
		if (!kept.ok || !removedByHand.ok) throw new Error('saves should succeed');
		await storage.store.remove(userFile(USER_A, `${removedByHand.image.id}.png`));
		clock.advance(5 * 60_000);

		const report = await storage.manager.reconcile();
		expect(report).toMatchObject({ added: 0, removed: 1, resized: 0, orphansRemoved: 0, files: 1 });
		expect((await storage.manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(kept.image.bytes);

		// Reconcile is idempotent: a second run finds nothing to fix.
		expect(await storage.manager.reconcile()).toMatchObject({ added: 0, removed: 0, resized: 0, totalsFixed: 0, partialsRemoved: 0 });
	});

	it('repairs totals edited behind its back', async () => {
		storage = await backend.open();
		const saved = await storage.manager.saveImage({ data: pngBytes(1000), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		const sqlite3 = (await import('sqlite3')).default;
		const db = new sqlite3.Database(join(storage.root, 'quota.sqlite'));
		await new Promise<void>((resolve, reject) =>
			db.exec("UPDATE imagine_totals SET bytes = 999999 WHERE scope = 'global'", (error) => (error ? reject(error) : resolve()))
		);
		await new Promise<void>((resolve) => db.close(() => resolve()));
		expect((await storage.manager.getQuotaStatus(USER_A)).global.usedBytes).toBe(999999);
		const report = await storage.manager.reconcile();
		expect(report.totalsFixed).toBe(1);
		expect((await storage.manager.getQuotaStatus(USER_A)).global.usedBytes).toBe(saved.image.bytes);
	});

	it('runs at start-up, in the background when the ledger already knows the files', async () => {
		storage = await backend.open();
		const saved = await storage.manager.saveImage({ data: pngBytes(1000), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		await storage.manager.close();
		await storage.store.remove(userFile(USER_A, `${saved.image.id}.png`));
		const clock = new ManualClock(Date.now() + 5 * 60_000);
		storage.manager = await storage.reopen({}, { clock: clock.read });
		expect(await storage.manager.whenReconciled()).toMatchObject({ removed: 1 });
		expect((await storage.manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(0);
	});

	it('adopts every stored image into a lost ledger before the first status, with its metadata and counts', async () => {
		storage = await backend.open({ maxUserDailyGens: 3 });
		const held = await storage.manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);
		const saved = await storage.manager.saveImage({
			data: pngBytes(1000),
			userId: USER_A,
			metadata: { prompt: 'kept' },
			reservation: held.reservation
		});
		const temp = await storage.manager.saveImage({ data: pngBytes(700), userId: USER_B, temp: true });
		if (!saved.ok || !temp.ok) throw new Error('saves should succeed');
		await storage.manager.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(join(storage.root, `quota.sqlite${suffix}`), { force: true });
		storage.manager = await storage.reopen();
		expect(await storage.manager.whenReconciled()).toMatchObject({ added: 2, orphansRemoved: 0, countsRestored: 1 });
		expect(await storage.manager.getQuotaStatus(USER_A)).toMatchObject({
			user: { usedBytes: saved.image.bytes, files: 1 },
			daily: { used: 1 }
		});
		expect((await storage.manager.getReport()).global).toMatchObject({ files: 2, usedBytes: saved.image.bytes + temp.image.bytes });
		const listed = await storage.manager.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => [image.id, image.metadata.prompt])).toEqual([[saved.image.id, 'kept']]);
		expect((await storage.manager.readImage(USER_B, temp.image.id)).ok).toBe(true);
	});
});
