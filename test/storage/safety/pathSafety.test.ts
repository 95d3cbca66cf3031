import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredImage } from '../../../src/plugins/storage/StorageManager.js';
import { newImageId } from '../../../src/plugins/storage/ids.js';
import { openTestStorage, pngBytes, USER_A, USER_B, USER_C } from '../../helpers/storageFixtures.js';
import { exists, snapshotTree } from './disk.js';

/**
 * Invariant 4 on the local disk: every folder is checked after symlinks are followed, so a link out of the storage
 * root is refused, never followed or counted. Nothing outside the root may be created, changed or removed: a canary
 * file and a folder live beside the root to prove it. (Hostile ids and names, on every store: keySafety.test.ts.)
 */

type Storage = Awaited<ReturnType<typeof openTestStorage>>;

const CANARY = 'canary: nothing may touch me\n';

let storage: Storage;
let canaryPath: string;
let outsideDir: string;
let ownImage: StoredImage;
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

beforeEach(async () => {
	storage = await openTestStorage();
	canaryPath = join(storage.dir, 'canary.txt');
	await writeFile(canaryPath, CANARY);
	outsideDir = join(storage.dir, 'outside');
	await mkdir(outsideDir);
	await writeFile(join(outsideDir, 'secret.png'), pngBytes(4096, 0x55));
	ownImage = await saveFor(USER_A, 0x11);
	await saveFor(USER_B, 0x22);
	outsideBefore = await snapshotTree(storage.dir, ['root']);
});

afterEach(async () => {
	await storage.close();
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
