import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageManager, type Reservation } from '../../../src/plugins/storage/StorageManager.js';
import type { StorageOptions } from '../../../src/plugins/storage/options.js';
import {
	BYTES_PER_MIB,
	deniedByReason,
	diskUsage,
	emptyTally,
	imagesThatFit,
	pngOfSize,
	raceFlows,
	reserveAndSave,
	SIDECAR_BOUND,
	userIds
} from '../../fixtures/storageFlows.js';

/*
 * Invariant 1 (docs: architecture guide): N simultaneous requests never start more generations than the
 * daily limit allows, and never let per-user or global bytes pass their caps. Here many flows race inside
 * one process, on one ledger connection; multiProcess.test.ts does the same across processes.
 */

const USER = '123456789012345678';
const IMAGE_BYTES = BYTES_PER_MIB;
const roots: string[] = [];
const managers: StorageManager[] = [];

afterEach(async () => {
	await Promise.all(managers.splice(0).map((manager) => manager.close()));
	await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function openManager(options: Omit<StorageOptions, 'storageRoot'>) {
	const root = await mkdtemp(join(tmpdir(), 'imagine-race-'));
	roots.push(root);
	const manager = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, estimatedImageMb: 1.5, ...options });
	managers.push(manager);
	return { root, manager };
}

describe('daily limit under in-process concurrency', () => {
	it('lets exactly 5 of 200 simultaneous generations through', async () => {
		const { root, manager } = await openManager({ maxUserDailyGens: 5, maxUserStorageMb: 1000, maxGlobalStorageMb: 5000 });

		const tally = await raceFlows(manager, [USER], 200, { imageBytes: 4096, maxGenerationMs: 3 });

		expect(tally.errors).toEqual([]);
		expect(tally.ok).toBe(5);
		expect(deniedByReason(tally)).toEqual({ DAILY_LIMIT: 195 });
		// Every denial came before the paid call: no generation was run and then thrown away.
		expect(tally.deniedAtSave).toEqual({});

		const images = await manager.getUserImages(USER);
		expect(images.ok && images.images.length).toBe(5);
		const status = await manager.getQuotaStatus(USER);
		expect(status.daily).toMatchObject({ used: 5, pending: 0, remaining: 0, allowed: false });
		expect(status.user.files).toBe(5);
		expect(status.user.usedBytes).toBe(tally.storedBytes);
		const disk = await diskUsage(root);
		expect(disk).toMatchObject({ images: 5, bytes: tally.storedBytes, partials: 0 });
	});

	it('refunds a released reservation, once', async () => {
		const { manager } = await openManager({ maxUserDailyGens: 5, maxUserStorageMb: 1000, maxGlobalStorageMb: 5000 });
		const reserveAll = (count: number) => Promise.all(Array.from({ length: count }, () => manager.reserve(USER)));
		const held = (results: Awaited<ReturnType<typeof reserveAll>>): Reservation[] => results.flatMap((r) => (r.ok ? [r.reservation] : []));

		const first = held(await reserveAll(5));
		expect(first).toHaveLength(5);
		expect((await manager.reserve(USER)).ok).toBe(false);

		const released = first.splice(0, 2);
		await Promise.all(released.map((reservation) => manager.release(reservation)));
		expect((await manager.getQuotaStatus(USER)).daily).toMatchObject({ used: 0, pending: 3, remaining: 2 });

		const again = await reserveAll(3);
		const second = held(again);
		expect(second).toHaveLength(2);
		expect(again.filter((r) => !r.ok).map((r) => !r.ok && r.reason)).toEqual(['DAILY_LIMIT']);

		// Releasing again (twice at once) refunds nothing more: the allowance stays full.
		await Promise.all(released.map((reservation) => manager.release(reservation)));
		await Promise.all(released.map((reservation) => manager.release(reservation)));
		expect((await manager.reserve(USER)).ok).toBe(false);
		expect((await manager.getQuotaStatus(USER)).daily).toMatchObject({ used: 0, pending: 5, remaining: 0 });

		const live = [...first, ...second];
		const saved = await Promise.all(live.map((reservation) => manager.saveImage({ data: pngOfSize(2048), userId: USER, reservation })));
		expect(saved.every((result) => result.ok)).toBe(true);
		// Nor does releasing a reservation that was committed.
		await Promise.all(live.map((reservation) => manager.release(reservation)));
		expect((await manager.reserve(USER)).ok).toBe(false);
		expect((await manager.getQuotaStatus(USER)).daily).toMatchObject({ used: 5, pending: 0, remaining: 0 });
	});
});

/*
 * The byte caps are checked twice: at reserve with the estimate, at commit with the real size (image +
 * metadata sidecar). Both estimates a caller may pass are raced: one that leaves room for the sidecar,
 * and the plain image size, which the real size exceeds by the sidecar's few hundred bytes.
 */
const estimates = [
	{ label: 'an estimate with room for the sidecar', estimatedBytes: IMAGE_BYTES + SIDECAR_BOUND },
	{ label: 'an estimate of the image size alone (the real size is a little larger)', estimatedBytes: IMAGE_BYTES }
];

describe.each(estimates)('byte caps under in-process concurrency, $label', ({ estimatedBytes }) => {
	it('40 users x 5 flows never pass a 10 MB global cap, and fill it', async () => {
		const capMb = 10;
		const users = userIds(40);
		const { root, manager } = await openManager({ maxUserDailyGens: 100, maxUserStorageMb: 100, maxGlobalStorageMb: capMb });

		const tally = await raceFlows(manager, users, 5, { imageBytes: IMAGE_BYTES, estimatedBytes, maxGenerationMs: 3 });

		expect(tally.errors).toEqual([]);
		const capBytes = capMb * BYTES_PER_MIB;
		const statuses = await Promise.all(users.map((user) => manager.getQuotaStatus(user)));
		const perUser = statuses.reduce((sum, status) => sum + status.user.usedBytes, 0);
		const disk = await diskUsage(root);
		const global = (await manager.getReport()).global;
		expect(tally.storedBytes).toBeLessThanOrEqual(capBytes);
		expect({ perUser, ledger: global.usedBytes, disk: disk.bytes, images: disk.images, partials: disk.partials }).toEqual({
			perUser: tally.storedBytes,
			ledger: tally.storedBytes,
			disk: tally.storedBytes,
			images: tally.ok,
			partials: 0
		});
		expect(Object.keys(deniedByReason(tally)), JSON.stringify(tally)).toEqual(['GLOBAL_QUOTA']);
		expect(tally.ok, `stored ${tally.ok} images; denials ${JSON.stringify(tally)}`).toBe(imagesThatFit(capBytes, IMAGE_BYTES));
	});

	it('50 flows of one user never pass a 5 MB per-user cap, and fill it', async () => {
		const capMb = 5;
		const { root, manager } = await openManager({ maxUserDailyGens: 100, maxUserStorageMb: capMb, maxGlobalStorageMb: 5000 });

		const tally = await raceFlows(manager, [USER], 50, { imageBytes: IMAGE_BYTES, estimatedBytes, maxGenerationMs: 3 });

		expect(tally.errors).toEqual([]);
		const capBytes = capMb * BYTES_PER_MIB;
		const status = await manager.getQuotaStatus(USER);
		const disk = await diskUsage(root);
		expect(tally.storedBytes).toBeLessThanOrEqual(capBytes);
		expect({ user: status.user.usedBytes, global: status.global.usedBytes, disk: disk.bytes, images: disk.images }).toEqual({
			user: tally.storedBytes,
			global: tally.storedBytes,
			disk: tally.storedBytes,
			images: tally.ok
		});
		expect(Object.keys(deniedByReason(tally)), JSON.stringify(tally)).toEqual(['USER_QUOTA']);
		expect(tally.ok, `stored ${tally.ok} images; denials ${JSON.stringify(tally)}`).toBe(imagesThatFit(capBytes, IMAGE_BYTES));
		expect(status.daily).toMatchObject({ used: tally.ok, pending: 0 });
	});
});

describe('sequential sanity check of the flow helper', () => {
	it('stores one image and counts image + sidecar bytes', async () => {
		const { manager } = await openManager({ maxUserDailyGens: 5, maxUserStorageMb: 100, maxGlobalStorageMb: 100 });
		const tally = emptyTally();
		await reserveAndSave(manager, USER, { imageBytes: IMAGE_BYTES }, tally);
		expect(tally.ok).toBe(1);
		expect(tally.storedBytes).toBeGreaterThan(IMAGE_BYTES);
		expect(tally.storedBytes).toBeLessThanOrEqual(IMAGE_BYTES + SIDECAR_BOUND);
	});
});
