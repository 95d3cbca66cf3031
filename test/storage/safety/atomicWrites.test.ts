import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import { instanceTags, ManualClock, openTestStorage, pngBytes, USER_A } from '../../helpers/storageFixtures.js';
import { exists, partialFiles } from './disk.js';

/**
 * Invariant 3: a save is temp name, fsync, rename, so no half-written image is ever visible; reconcile
 * rebuilds the ledger from the disk after a crash at any point of that sequence.
 */

type Storage = Awaited<ReturnType<typeof openTestStorage>>;

let storage: Storage | undefined;

async function open(...args: Parameters<typeof openTestStorage>): Promise<Storage> {
	storage = await openTestStorage(...args);
	return storage;
}

afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

function userDir(root: string, userId = USER_A): string {
	return join(root, 'images', 'users', userId);
}

/** Writes `<id>.png` + `<id>.json` into the user's folder by hand, as a save that crashed before its ledger row would. */
async function writeImageByHand(root: string, sidecar: string | object, createdAt = Date.now() - 10 * 60_000) {
	const imageId = newImageId(createdAt);
	const data = pngBytes(3000, 0x33);
	const directory = userDir(root);
	await mkdir(directory, { recursive: true });
	const sidecarText = typeof sidecar === 'string' ? sidecar : `${JSON.stringify({ id: imageId, ...sidecar })}\n`;
	await writeFile(join(directory, `${imageId}.png`), data);
	await writeFile(join(directory, `${imageId}.json`), sidecarText);
	return { imageId, data, sidecarText, pngPath: join(directory, `${imageId}.png`), jsonPath: join(directory, `${imageId}.json`) };
}

describe('a successful save', () => {
	it('leaves exactly the image and its metadata, byte for byte, and no hidden partial file', async () => {
		const { manager, root } = await open();
		const data = pngBytes(50_000, 0x7e);
		const saved = await manager.saveImage({ data, userId: USER_A, name: 'sunset', metadata: { prompt: 'a sunset' } });
		if (!saved.ok) throw new Error(saved.message);

		expect((await readdir(userDir(root))).sort()).toEqual([`${saved.image.id}.json`, `${saved.image.id}.png`]);
		expect(await readFile(saved.image.path)).toEqual(data);
		const sidecar = JSON.parse(await readFile(join(userDir(root), `${saved.image.id}.json`), 'utf8')) as Record<string, unknown>;
		expect(sidecar).toMatchObject({ id: saved.image.id, userId: USER_A, name: 'sunset', metadata: { prompt: 'a sunset' } });
		expect(await partialFiles(root)).toEqual([]);
	});

	it('a temp save leaves the same: the file in temp/, intact, nothing hidden', async () => {
		const { manager, root } = await open();
		const data = pngBytes(10_000, 0x01);
		const saved = await manager.saveImage({ data, userId: USER_A, temp: true });
		if (!saved.ok) throw new Error(saved.message);
		expect((await readdir(join(root, 'temp'))).sort()).toEqual([`${saved.image.id}.json`, `${saved.image.id}.png`]);
		expect(await readFile(saved.image.path)).toEqual(data);
		expect(await partialFiles(root)).toEqual([]);
	});

	it('twenty saves at once each land whole, with no partial file left', async () => {
		const { manager, root } = await open();
		const inputs = Array.from({ length: 20 }, (_, index) => pngBytes(20_000 + index * 97, index + 1));
		const results = await Promise.all(inputs.map((data) => manager.saveImage({ data, userId: USER_A })));
		for (const [index, result] of results.entries()) {
			if (!result.ok) throw new Error(result.message);
			expect(await readFile(result.image.path)).toEqual(inputs[index]);
		}
		expect(await partialFiles(root)).toEqual([]);
		const listed = await manager.getUserImages(USER_A);
		expect(listed.ok && listed.images).toHaveLength(20);
	});
});

describe('leftovers of an interrupted write', () => {
	it('are never listed; reconcile removes an old partial and keeps a fresh one another process may be writing', async () => {
		const { manager, root } = await open();
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		const directory = userDir(root);
		const oldId = newImageId(Date.now() - 3 * 3_600_000);
		// Partial names carry the writer's instance tag: this writer is alive (the manager itself), so only age counts.
		const [writer] = await instanceTags(root);
		const oldPartial = join(directory, `.${oldId}.png.partial-${writer}abcdef012345`);
		const oldSidecarPartial = join(directory, `.${oldId}.json.partial-${writer}123456789abc`);
		const freshPartial = join(directory, `.${newImageId(Date.now())}.png.partial-${writer}fedcba987654`);
		const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
		for (const path of [oldPartial, oldSidecarPartial]) {
			await writeFile(path, pngBytes(4096).subarray(0, 1000)); // half an image
			await utimes(path, twoHoursAgo, twoHoursAgo);
		}
		await writeFile(freshPartial, pngBytes(4096).subarray(0, 1000));

		const listedBefore = await manager.getUserImages(USER_A);
		expect(listedBefore.ok && listedBefore.images.map((image) => image.id)).toEqual([saved.image.id]);

		const report = await manager.reconcile();
		expect(report.partialsRemoved).toBe(2);
		expect(report.added).toBe(0);
		expect(await exists(oldPartial)).toBe(false);
		expect(await exists(oldSidecarPartial)).toBe(false);
		expect(await exists(freshPartial)).toBe(true);

		const listedAfter = await manager.getUserImages(USER_A);
		expect(listedAfter.ok && listedAfter.images.map((image) => image.id)).toEqual([saved.image.id]);
		expect((await manager.getQuotaStatus(USER_A)).user).toMatchObject({ files: 1, usedBytes: saved.image.bytes });
	});
});

describe('an image on disk the ledger does not know', () => {
	it('is added by reconcile, then listed, counted in the quota, readable and deletable', async () => {
		const { manager, root } = await open();
		const createdAt = Date.now() - 10 * 60_000;
		const planted = await writeImageByHand(
			root,
			{ userId: USER_A, name: 'recovered', createdAt, temp: false, ext: 'png', metadata: { prompt: 'a crash survivor' } },
			createdAt
		);

		const report = await manager.reconcile();
		expect(report.added).toBe(1);

		const listed = await manager.getUserImages(USER_A);
		if (!listed.ok) throw new Error(listed.message);
		expect(listed.images).toHaveLength(1);
		expect(listed.images[0]).toMatchObject({ id: planted.imageId, name: 'recovered', metadata: { prompt: 'a crash survivor' } });
		expect(listed.images[0]?.createdAt.getTime()).toBe(createdAt);

		const expectedBytes = planted.data.byteLength + Buffer.byteLength(planted.sidecarText);
		expect((await manager.getQuotaStatus(USER_A)).user).toMatchObject({ files: 1, usedBytes: expectedBytes });
		expect(await manager.getImagePath(USER_A, planted.imageId)).toMatchObject({ ok: true, path: planted.pngPath });

		expect(await manager.deleteImage(USER_A, planted.imageId)).toMatchObject({ ok: true });
		expect(await exists(planted.pngPath)).toBe(false);
		expect((await manager.getQuotaStatus(USER_A)).user).toMatchObject({ files: 0, usedBytes: 0 });
	});

	it('is picked up on restart (reconcile on open)', async () => {
		const first = await open();
		const planted = await writeImageByHand(first.root, { userId: USER_A, name: 'after-restart', createdAt: Date.now() - 60_000 });
		const second = await first.reopen();
		try {
			const listed = await second.getUserImages(USER_A);
			expect(listed.ok && listed.images.map((image) => image.id)).toEqual([planted.imageId]);
		} finally {
			await second.close();
		}
	});

	it('a second reconcile changes nothing', async () => {
		const { manager, root } = await open();
		await writeImageByHand(root, { userId: USER_A, name: 'once' });
		await manager.reconcile();
		const again = await manager.reconcile();
		expect(again).toMatchObject({ added: 0, removed: 0, resized: 0, totalsFixed: 0, partialsRemoved: 0 });
	});
});

describe('a ledger row whose image was deleted by hand', () => {
	it('is kept within the 60 s grace, then dropped by reconcile, and the quota goes back down', async () => {
		const clock = new ManualClock(Date.now());
		const { manager, root } = await open({}, { clock: clock.read });
		const kept = await manager.saveImage({ data: pngBytes(5000, 0x0a), userId: USER_A, name: 'kept' });
		const lost = await manager.saveImage({ data: pngBytes(9000, 0x0b), userId: USER_A, name: 'lost' });
		if (!kept.ok || !lost.ok) throw new Error('setup saves failed');
		await rm(lost.image.path);

		const early = await manager.reconcile();
		expect(early.removed).toBe(0);
		expect((await manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(kept.image.bytes + lost.image.bytes);

		clock.advance(2 * 60_000);
		const report = await manager.reconcile();
		expect(report.removed).toBe(1);
		expect((await manager.getQuotaStatus(USER_A)).user).toMatchObject({ files: 1, usedBytes: kept.image.bytes });
		const listed = await manager.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => image.name)).toEqual(['kept']);
		expect(await manager.getImagePath(USER_A, lost.image.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await exists(join(userDir(root), `${kept.image.id}.png`))).toBe(true);
	});

	it('with both image and metadata removed, the row goes and the user can use the freed bytes', async () => {
		const clock = new ManualClock(Date.now());
		const { manager, root } = await open({ maxUserStorageMb: 1 }, { clock: clock.read });
		const saved = await manager.saveImage({ data: pngBytes(700_000), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		expect(await manager.saveImage({ data: pngBytes(700_000), userId: USER_A })).toMatchObject({ ok: false, reason: 'USER_QUOTA' });

		await rm(saved.image.path);
		await rm(join(userDir(root), `${saved.image.id}.json`));
		clock.advance(2 * 60_000);
		expect((await manager.reconcile()).removed).toBe(1);
		expect((await manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(0);
		expect(await manager.saveImage({ data: pngBytes(700_000), userId: USER_A })).toMatchObject({ ok: true });
	});
});

describe('a garbage metadata file', () => {
	const garbage: { label: string; text: string }[] = [
		{ label: 'not JSON', text: 'not json {{{' },
		{ label: 'empty', text: '' },
		{ label: 'null', text: 'null' },
		{ label: 'an array', text: '[1, 2, 3]' },
		{ label: 'a string', text: '"hello"' },
		{ label: 'binary noise', text: '\u0000\u0001\uffff\ud800' },
		{ label: 'wrong types', text: '{"userId": 5, "name": ["x"], "createdAt": "yesterday", "metadata": 42}' },
		{ label: 'a hostile name', text: '{"name": "../../etc/passwd", "userId": "../x"}' },
		{ label: 'larger than 1 MB', text: `{"pad": "${'x'.repeat(1_200_000)}"}` }
	];

	it.each(garbage)('$label: reconcile does not crash and the image is listed under a safe name', async ({ text }) => {
		const { manager, root } = await open();
		const planted = await writeImageByHand(root, text);
		const report = await manager.reconcile();
		expect(report.added).toBe(1);
		const listed = await manager.getUserImages(USER_A);
		if (!listed.ok) throw new Error(listed.message);
		expect(listed.images).toHaveLength(1);
		const [image] = listed.images;
		expect(image?.id).toBe(planted.imageId);
		expect(image?.name).toBe(planted.imageId);
		expect(Number.isFinite(image?.createdAt.getTime())).toBe(true);
		expect(await manager.getImagePath(USER_A, planted.imageId)).toMatchObject({ ok: true, path: planted.pngPath });
		expect((await manager.getQuotaStatus(USER_A)).user.usedBytes).toBeGreaterThanOrEqual((await stat(planted.pngPath)).size);
	});

	it('an out-of-range createdAt neither becomes an invalid date nor pins the row against reconcile', async () => {
		const clock = new ManualClock(Date.now());
		const { manager, root } = await open({}, { clock: clock.read });
		const planted = await writeImageByHand(root, '{"createdAt": 1e300, "name": "from the far future"}');
		await manager.reconcile();
		const listed = await manager.getUserImages(USER_A);
		if (!listed.ok) throw new Error(listed.message);
		expect(listed.images.map((image) => image.id)).toEqual([planted.imageId]);
		expect(Number.isFinite(listed.images[0]?.createdAt.getTime())).toBe(true);

		// Deleted by hand later: the row must go like any other once the grace has passed.
		await rm(planted.pngPath);
		clock.advance(2 * 60_000);
		expect((await manager.reconcile()).removed).toBe(1);
		expect((await manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(0);
	});
});
