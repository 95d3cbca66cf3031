import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import type { StoredImage } from '../../../src/plugins/storage/StorageManager.js';
import { describeEachBackend, type Backend, type BackendStorage } from '../../helpers/storageBackends.js';
import { pngBytes, USER_A, USER_B, USER_C } from '../../helpers/storageFixtures.js';
import { snapshotTree } from './disk.js';

/**
 * Invariant 4, on every store: no user-supplied string becomes a path or a key. Each hostile value goes through every
 * entry point that takes it; all must answer with a failure value (never throw), the store must hold exactly what it
 * held, and nothing outside it may change: a canary beside the storage root, and in a bucket no key outside the
 * store's prefix (nor anything beside the bucket in the S3 server's own folder).
 */

const CANARY = 'canary: nothing may touch me\n';

let storage: BackendStorage;
let ownImage: StoredImage;
let otherImage: StoredImage;
let storeBefore: string[];
let outsideBefore: Record<string, string>;
let serverBefore: string[];

const imageFiles = (image: StoredImage) => [
	`images/users/${image.userId}/${image.id}.json`,
	`images/users/${image.userId}/${image.id}.png`
];

async function saveFor(userId: string, fill: number): Promise<StoredImage> {
	const saved = await storage.manager.saveImage({ data: pngBytes(2048, fill), userId, name: `image of ${userId}` });
	if (!saved.ok) throw new Error(`setup save failed: ${saved.message}`);
	return saved.image;
}

async function setUp(backend: Backend): Promise<void> {
	storage = await backend.open();
	await writeFile(join(storage.dir, 'canary.txt'), CANARY);
	ownImage = await saveFor(USER_A, 0x11);
	otherImage = await saveFor(USER_B, 0x22);
	storeBefore = await storage.store.list();
	outsideBefore = await snapshotTree(storage.dir, ['root']);
	serverBefore = backend.s3 ? await readdir(backend.s3.directory) : [];
}

/** Nothing changed beside the store: the canary, the folders beside the root, other buckets; every key under the prefix. */
async function expectOutsideUntouched(): Promise<void> {
	expect(await readFile(join(storage.dir, 'canary.txt'), 'utf8')).toBe(CANARY);
	expect(await snapshotTree(storage.dir, ['root'])).toEqual(outsideBefore);
	const s3 = storage.backend.s3;
	if (s3 && storage.bucket) {
		expect(await readdir(s3.directory)).toEqual(serverBefore);
		for (const key of await s3.keys(storage.bucket)) expect(key.startsWith('imagine/')).toBe(true);
	}
}

/** The store holds what it held after setup, and both images are still their owners'. */
async function expectStoreIntact(): Promise<void> {
	expect(await storage.store.list()).toEqual(storeBefore);
	for (const image of [ownImage, otherImage]) {
		expect(await storage.store.read(imageFiles(image)[1] as string)).toEqual(pngBytes(2048, image === ownImage ? 0x11 : 0x22));
		const listed = await storage.manager.getUserImages(image.userId);
		expect(listed.ok && listed.images.map((listedImage) => listedImage.id)).toEqual([image.id]);
	}
}

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

describeEachBackend('hostile user ids', (backend) => {
	beforeEach(() => setUp(backend));
	afterEach(() => storage.close());

	it.each(hostileUserIds)('$label: every entry point answers INVALID_NAME and touches nothing', async ({ value }) => {
		const { manager } = storage;
		const reserved = await manager.reserve(USER_A);
		if (!reserved.ok) throw new Error('setup reserve failed');
		const results = [
			await manager.getImagePath(value, ownImage.id),
			await manager.readImage(value, ownImage.id),
			await manager.deleteImage(value, ownImage.id),
			await manager.deleteUserImages(value),
			await manager.getUserImages(value),
			await manager.saveImage({ data: pngBytes(), userId: value }),
			await manager.saveImage({ data: pngBytes(), userId: value, temp: true }),
			await manager.saveImage({ data: pngBytes(), userId: value, reservation: reserved.reservation }),
			await manager.reserve(value),
			await manager.reserve(value, { temp: true, estimatedBytes: 1 }),
			await manager.resetUser(value, { daily: true, storage: true })
		];
		for (const result of results) expect(result).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		await manager.release(reserved.reservation);
		await expectOutsideUntouched();
		await expectStoreIntact();
	});
});

describeEachBackend('hostile image ids', (backend) => {
	beforeEach(() => setUp(backend));
	afterEach(() => storage.close());

	it.each(hostileImageIds)('$label: getImagePath, readImage and deleteImage answer INVALID_NAME and delete nothing', async ({ value }) => {
		const imageId = value.replace('OWN', ownImage.id);
		const { manager } = storage;
		expect(await manager.getImagePath(USER_A, imageId)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await manager.readImage(USER_A, imageId)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(await manager.deleteImage(USER_A, imageId)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		await expectOutsideUntouched();
		await expectStoreIntact();
	});
});

describeEachBackend('hostile image names', (backend) => {
	beforeEach(() => setUp(backend));
	afterEach(() => storage.close());

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
		await expectStoreIntact();
	});
});

describeEachBackend("another user's images", (backend) => {
	beforeEach(() => setUp(backend));
	afterEach(() => storage.close());

	it("getImagePath and readImage with another user's well-formed image id are NOT_FOUND", async () => {
		expect(await storage.manager.getImagePath(USER_A, otherImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.getImagePath(USER_B, ownImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.readImage(USER_C, ownImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		await expectStoreIntact();
	});

	it("deleteImage with another user's image id is NOT_FOUND and leaves that image, its row and its quota alone", async () => {
		const before = await storage.manager.getQuotaStatus(USER_B);
		expect(await storage.manager.deleteImage(USER_A, otherImage.id)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		const after = await storage.manager.getQuotaStatus(USER_B);
		expect(after.user).toMatchObject({ usedBytes: before.user.usedBytes, files: 1 });
		expect(await storage.manager.getImagePath(USER_B, otherImage.id)).toMatchObject({ ok: true, path: otherImage.path });
		await expectStoreIntact();
		await expectOutsideUntouched();
	});

	it('a well-formed image id nobody owns is NOT_FOUND', async () => {
		const unknown = newImageId(Date.now());
		expect(await storage.manager.getImagePath(USER_A, unknown)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect(await storage.manager.deleteImage(USER_A, unknown)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		await expectStoreIntact();
	});

	it("a save carrying another user's reservation is refused and stores nothing", async () => {
		const reserved = await storage.manager.reserve(USER_B);
		if (!reserved.ok) throw new Error('setup reserve failed');
		const result = await storage.manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: reserved.reservation });
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect((await storage.manager.getQuotaStatus(USER_A)).daily.used).toBe(0);
		await expectStoreIntact();
	});
});
