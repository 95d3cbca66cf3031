import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredImage } from '../../../src/plugins/storage/StorageManager.js';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import { openTestStorage, pngBytes, USER_A, USER_B, USER_C } from '../../helpers/storageFixtures.js';
import { exists, listTree, snapshotTree } from './disk.js';

/**
 * Invariant 4: no user-supplied string becomes a path. Each hostile value goes through every entry point
 * that takes it; all must answer with a failure value (never throw), and nothing outside the storage root
 * may be created, changed or removed. A canary file and a folder live beside the root to prove it.
 */

type Storage = Awaited<ReturnType<typeof openTestStorage>>;

const CANARY = 'canary: nothing may touch me\n';

let storage: Storage;
let canaryPath: string;
let outsideDir: string;
let ownImage: StoredImage;
let otherImage: StoredImage;
let outsideBefore: Record<string, string>;

async function saveFor(userId: string, fill: number): Promise<StoredImage> {
	const saved = await storage.manager.saveImage({ data: pngBytes(2048, fill), userId, name: `image of ${userId}` });
	if (!saved.ok) throw new Error(`setup save failed: ${saved.message}`);
	return saved.image;
}

/** Everything beside the storage root is exactly as before, the canary included. */
async function expectOutsideUntouched(): Promise<void> {
	expect(await readFile(canaryPath, 'utf8')).toBe(CANARY);
	expect(await snapshotTree(storage.dir, ['root'])).toEqual(outsideBefore);
}

/** The two images saved in setup are still there, on disk and in their owners' galleries. */
async function expectSetupImagesIntact(): Promise<void> {
	for (const image of [ownImage, otherImage]) {
		expect(await readFile(image.path)).toEqual(pngBytes(2048, image === ownImage ? 0x11 : 0x22));
		const listed = await storage.manager.getUserImages(image.userId);
		expect(listed.ok && listed.images.map((listedImage) => listedImage.id)).toEqual([image.id]);
	}
}

beforeEach(async () => {
	storage = await openTestStorage();
	canaryPath = join(storage.dir, 'canary.txt');
	await writeFile(canaryPath, CANARY);
	outsideDir = join(storage.dir, 'outside');
	await mkdir(outsideDir);
	await writeFile(join(outsideDir, 'secret.png'), pngBytes(4096, 0x55));
	ownImage = await saveFor(USER_A, 0x11);
	otherImage = await saveFor(USER_B, 0x22);
	outsideBefore = await snapshotTree(storage.dir, ['root']);
});

afterEach(async () => {
	await storage.close();
});

interface HostileCase {
	label: string;
	value: string;
}

/** Strings that try to leave a folder, hide a separator, or are simply not ids or names. */
const hostile: HostileCase[] = [
	{ label: '../', value: '../' },
	{ label: '../../etc/passwd', value: '../../etc/passwd' },
	{ label: 'backslashes ..\\..\\x', value: '..\\..\\x' },
	{ label: 'absolute /etc/passwd', value: '/etc/passwd' },
	{ label: 'drive path C:\\Windows', value: 'C:\\Windows' },
	{ label: 'NUL byte a\\u0000b', value: 'a\u0000b' },
	{ label: 'url-encoded %2e%2e%2f', value: '%2e%2e%2f' },
	{ label: 'url-encoded %2e%2e', value: '%2e%2e' },
	{ label: '....//', value: '....//' },
	{ label: 'one-dot leaders \\u2024\\u2024/', value: '\u2024\u2024/' },
	{ label: 'fullwidth dots and slash', value: '\uff0e\uff0e\uff0f' },
	{ label: 'RTL override', value: 'abc\u202egnp.exe' },
	{ label: '300 characters', value: 'a'.repeat(300) },
	{ label: 'empty string', value: '' },
	{ label: 'whitespace', value: ' \t\n ' }
];

const hostileUserIds: HostileCase[] = [
	...hostile,
	{ label: 'snowflake then ../other', value: `${USER_A}/../${USER_B}` },
	{ label: '../ then snowflake', value: `../${USER_A}` },
	{ label: 'snowflake with trailing newline', value: `${USER_A}\n` },
	{ label: 'snowflake with trailing NUL', value: `${USER_A}\u0000` },
	{
		label: 'fullwidth digits',
		value: '\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18'
	},
	{
		label: 'arabic-indic digits',
		value: '\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668'
	},
	{ label: '300 digits', value: '1'.repeat(300) },
	{ label: 'too short (16 digits)', value: '1234567890123456' }
];

const hostileImageIds: HostileCase[] = [
	...hostile,
	{ label: '16 characters with a slash', value: '../../../../abcd' },
	{ label: '16 characters with upper case', value: '0123456789ABCDEF' },
	{ label: '16 characters with a cyrillic look-alike', value: '0123456789abcd\u0435f' },
	{ label: 'a real id with its extension', value: 'OWN.png' },
	{ label: 'a real id with a trailing newline', value: 'OWN\n' },
	{ label: 'a real id behind ../', value: '../OWN' }
];

const hostileNames: HostileCase[] = [
	...hostile,
	{ label: 'hidden file name', value: '.partial' },
	{ label: 'dots inside', value: 'a..b' },
	{ label: 'slash inside', value: 'cats/dogs' },
	{ label: 'backslash inside', value: 'cats\\dogs' },
	{ label: '65 characters', value: 'a'.repeat(65) }
];

describe('hostile user ids', () => {
	it.each(hostileUserIds)('$label: every entry point answers INVALID_NAME and touches nothing', async ({ value }) => {
		const { manager } = storage;
		const reserved = await manager.reserve(USER_A);
		if (!reserved.ok) throw new Error('setup reserve failed');
		const results = [
			await manager.getImagePath(value, ownImage.id),
			await manager.deleteImage(value, ownImage.id),
			await manager.getUserImages(value),
			await manager.saveImage({ data: pngBytes(), userId: value }),
			await manager.saveImage({ data: pngBytes(), userId: value, temp: true }),
			await manager.saveImage({ data: pngBytes(), userId: value, reservation: reserved.reservation }),
			await manager.reserve(value),
			await manager.reserve(value, { temp: true, estimatedBytes: 1 })
		];
		for (const result of results) expect(result).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		await manager.release(reserved.reservation);

		await expectOutsideUntouched();
		await expectSetupImagesIntact();
		expect(await listTree(join(storage.root, 'images', 'users'))).toEqual(
			[
				USER_A,
				`${USER_A}/${ownImage.id}.json`,
				`${USER_A}/${ownImage.id}.png`,
				USER_B,
				`${USER_B}/${otherImage.id}.json`,
				`${USER_B}/${otherImage.id}.png`
			].sort()
		);
		expect(await listTree(join(storage.root, 'temp'))).toEqual([]);
	});
});

describe('hostile image ids', () => {
	it.each(hostileImageIds)('$label: getImagePath and deleteImage answer INVALID_NAME and delete nothing', async ({ value }) => {
		const imageId = value.replace('OWN', ownImage.id);
		const { manager } = storage;
		expect(await manager.getImagePath(USER_A, imageId)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await manager.deleteImage(USER_A, imageId)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		await expectOutsideUntouched();
		await expectSetupImagesIntact();
	});
});

describe('hostile image names', () => {
	it.each(hostileNames)('$label: saveImage answers INVALID_NAME, stores nothing and gives the reservation back', async ({ value }) => {
		const { manager } = storage;
		const before = await manager.getQuotaStatus(USER_A);
		const reserved = await manager.reserve(USER_A);
		if (!reserved.ok) throw new Error('setup reserve failed');

		expect(await manager.saveImage({ data: pngBytes(), userId: USER_A, name: value })).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await manager.saveImage({ data: pngBytes(), userId: USER_A, name: value, temp: true })).toMatchObject({
			ok: false,
			reason: 'INVALID_NAME'
		});
		expect(await manager.saveImage({ data: pngBytes(), userId: USER_A, name: value, reservation: reserved.reservation })).toMatchObject({
			ok: false,
			reason: 'INVALID_NAME'
		});

		const after = await manager.getQuotaStatus(USER_A);
		expect(after.daily).toMatchObject({ used: before.daily.used, pending: 0, remaining: before.daily.remaining });
		expect(after.user.usedBytes).toBe(before.user.usedBytes);
		await expectOutsideUntouched();
		await expectSetupImagesIntact();
		expect(await listTree(join(storage.root, 'images', 'users', USER_A))).toEqual([`${ownImage.id}.json`, `${ownImage.id}.png`]);
		expect(await listTree(join(storage.root, 'temp'))).toEqual([]);
	});
});

describe("another user's images", () => {
	it("getImagePath with another user's well-formed image id is NOT_FOUND", async () => {
		expect(await storage.manager.getImagePath(USER_A, otherImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.getImagePath(USER_B, ownImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		await expectSetupImagesIntact();
	});

	it("deleteImage with another user's image id is NOT_FOUND and leaves that image, its row and its quota alone", async () => {
		const before = await storage.manager.getQuotaStatus(USER_B);
		expect(await storage.manager.deleteImage(USER_A, otherImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		const after = await storage.manager.getQuotaStatus(USER_B);
		expect(after.user).toMatchObject({ usedBytes: before.user.usedBytes, files: 1 });
		expect(await storage.manager.getImagePath(USER_B, otherImage.id)).toMatchObject({ ok: true, path: otherImage.path });
		await expectSetupImagesIntact();
		await expectOutsideUntouched();
	});

	it('a well-formed image id nobody owns is NOT_FOUND', async () => {
		const unknown = newImageId(Date.now());
		expect(await storage.manager.getImagePath(USER_A, unknown)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.deleteImage(USER_A, unknown)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		await expectSetupImagesIntact();
	});

	it("a save carrying another user's reservation is refused and stores nothing", async () => {
		const reserved = await storage.manager.reserve(USER_B);
		if (!reserved.ok) throw new Error('setup reserve failed');
		const result = await storage.manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: reserved.reservation });
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await listTree(join(storage.root, 'images', 'users', USER_A))).toEqual([`${ownImage.id}.json`, `${ownImage.id}.png`]);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily.used).toBe(0);
	});
});

describe('symlinks out of the storage root', () => {
	/** Replaces USER_A's folder by a link to a folder outside the root that holds files posing as A's images. */
	async function linkUserFolderOutside(): Promise<{ victim: string; plantedId: string }> {
		const victim = join(outsideDir, 'victim');
		await mkdir(victim);
		const plantedId = newImageId(Date.now() - 5000);
		await writeFile(join(victim, `${ownImage.id}.png`), 'precious outside file, same name as an image');
		await writeFile(join(victim, `${plantedId}.png`), pngBytes(8192, 0x66));
		await writeFile(join(victim, `${plantedId}.json`), JSON.stringify({ id: plantedId, userId: USER_A, name: 'planted', createdAt: 1 }));
		const userDir = join(storage.root, 'images', 'users', USER_A);
		await rename(userDir, join(storage.dir, 'moved-away'));
		await symlink(victim, userDir, 'dir');
		outsideBefore = await snapshotTree(storage.dir, ['root']);
		return { victim, plantedId };
	}

	it('a user folder linked outside: saveImage refuses with IO, writes nothing there and gives the reservation back', async () => {
		await linkUserFolderOutside();
		const { manager } = storage;
		expect(await manager.saveImage({ data: pngBytes(), userId: USER_A })).toMatchObject({ ok: false, reason: 'IO' });
		const reserved = await manager.reserve(USER_A);
		if (!reserved.ok) throw new Error('setup reserve failed');
		expect(await manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: reserved.reservation })).toMatchObject({
			ok: false,
			reason: 'IO'
		});
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
		await expectOutsideUntouched();
	});

	it('a user folder linked outside: getImagePath and deleteImage refuse and the outside files survive', async () => {
		const { victim } = await linkUserFolderOutside();
		const found = await storage.manager.getImagePath(USER_A, ownImage.id);
		expect(found).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.deleteImage(USER_A, ownImage.id)).toMatchObject({ ok: false });
		expect(await readFile(join(victim, `${ownImage.id}.png`), 'utf8')).toBe('precious outside file, same name as an image');
		await expectOutsideUntouched();
	});

	it('a user folder linked outside: reconcile does not follow it, reports it and counts nothing from it', async () => {
		const { plantedId } = await linkUserFolderOutside();
		const report = await storage.manager.reconcile();
		expect(report.ignored).toContain(join(storage.root, 'images', 'users', USER_A));
		expect(report.added).toBe(0);
		const listed = await storage.manager.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => image.id)).not.toContain(plantedId);
		expect((await storage.manager.getQuotaStatus(USER_A)).user.usedBytes).toBeLessThanOrEqual(ownImage.bytes);
		await expectOutsideUntouched();
	});

	it('the users folder itself linked outside: saveImage refuses with IO and creates nothing outside the root', async () => {
		const target = join(outsideDir, 'all-users');
		await mkdir(target);
		const usersDir = join(storage.root, 'images', 'users');
		await rename(usersDir, join(storage.dir, 'users-moved-away'));
		await symlink(target, usersDir, 'dir');
		outsideBefore = await snapshotTree(storage.dir, ['root']);

		expect(await storage.manager.saveImage({ data: pngBytes(), userId: USER_C })).toMatchObject({ ok: false, reason: 'IO' });
		// A refused save must not leave even an empty folder behind the link.
		expect(await exists(join(target, USER_C))).toBe(false);
		await expectOutsideUntouched();
	});

	it('the users folder itself linked outside: reconcile does not throw and counts nothing from there', async () => {
		const target = join(outsideDir, 'all-users');
		await mkdir(join(target, USER_C), { recursive: true });
		const plantedId = newImageId(Date.now() - 5000);
		await writeFile(join(target, USER_C, `${plantedId}.png`), pngBytes(8192, 0x66));
		const usersDir = join(storage.root, 'images', 'users');
		await rename(usersDir, join(storage.dir, 'users-moved-away'));
		await symlink(target, usersDir, 'dir');
		outsideBefore = await snapshotTree(storage.dir, ['root']);

		const report = await storage.manager.reconcile();
		expect(report.added).toBe(0);
		expect((await storage.manager.getQuotaStatus(USER_C)).user.usedBytes).toBe(0);
		await expectOutsideUntouched();
	});

	it('an image file replaced by a link to an outside file: NOT_FOUND, and delete leaves the outside file alone', async () => {
		const secret = join(outsideDir, 'secret.png');
		await rm(ownImage.path);
		await symlink(secret, ownImage.path);

		expect(await storage.manager.getImagePath(USER_A, ownImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.deleteImage(USER_A, ownImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await readFile(secret)).toEqual(pngBytes(4096, 0x55));

		const report = await storage.manager.reconcile();
		expect(report.ignored).toContain(ownImage.path);
		expect((await storage.manager.getQuotaStatus(USER_A)).user).toMatchObject({ usedBytes: 0, files: 0 });
		await expectOutsideUntouched();
	});

	it('a sidecar replaced by a link to an outside file: deleting the image removes the link, not its target', async () => {
		const outsideJson = join(outsideDir, 'settings.json');
		await writeFile(outsideJson, '{"keep": true}');
		outsideBefore = await snapshotTree(storage.dir, ['root']);
		const sidecar = join(storage.root, 'images', 'users', USER_A, `${ownImage.id}.json`);
		await rm(sidecar);
		await symlink(outsideJson, sidecar);

		expect(await storage.manager.deleteImage(USER_A, ownImage.id)).toMatchObject({ ok: true });
		expect(await exists(sidecar)).toBe(false);
		await expectOutsideUntouched();
	});
});
