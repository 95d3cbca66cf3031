import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import type { WorkerArgs } from '../../fixtures/ledgerWorker.js';
import { killWorkers, raceWorkers, startReadyGoWorker } from '../../helpers/readyGoWorker.js';
import {
	BYTES_PER_MIB,
	deniedByReason,
	diskUsage,
	emptyTally,
	imagesThatFit,
	mergeTally,
	SIDECAR_BOUND,
	userIds,
	type Tally
} from '../../fixtures/storageFlows.js';

/*
 * Invariant 1 across shard processes: several processes share one storage root and so one SQLite ledger
 * (<root>/quota.sqlite, WAL, busy timeout). Each runs many flows at once; together they must still respect
 * the daily limit and the byte caps, and no process may see SQLITE_BUSY (it must wait for the lock instead).
 */

const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const WORKER = join(REPO, 'test', 'fixtures', 'ledgerWorker.ts');
const PROCESSES = 4;
const USER = '123456789012345678';
const IMAGE_BYTES = BYTES_PER_MIB;
/** Everything (spawn, tsx start-up, the race, close) must be over by then; children still running are killed. */
const DEADLINE_MS = 45_000;

const roots: string[] = [];

afterEach(async () => {
	killWorkers();
	await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function newRoot(): Promise<string> {
	const root = await mkdtemp(join(tmpdir(), 'imagine-shards-'));
	roots.push(root);
	return root;
}

async function runShards(argsFor: (index: number) => WorkerArgs): Promise<Tally> {
	const deadline = Date.now() + DEADLINE_MS;
	const workers = Array.from({ length: PROCESSES }, (_, index) =>
		startReadyGoWorker<Tally>(WORKER, argsFor(index), { deadline, name: `worker ${index}` })
	);
	return (await raceWorkers(workers)).reduce(mergeTally, emptyTally());
}

/** A manager opened after the workers are gone, without reconcile: it sees what the workers left in the ledger file. */
async function freshManager(root: string, options: Omit<WorkerArgs['storage'], 'storageRoot'>) {
	return StorageManager.open({ ...options, storageRoot: root, reconcileOnStart: false, cleanupIntervalMinutes: 0 });
}

/**
 * Rebuilding the ledger from the disk must find nothing to add, drop, resize or release. (`totalsFixed` is
 * left out: rebuildTotals counts the never-written 'temp' scope row, 0 bytes, as a fix.)
 */
async function expectLedgerMatchesDisk(manager: StorageManager, files: number) {
	const report = await manager.reconcile();
	expect(report).toMatchObject({ added: 0, removed: 0, resized: 0, partialsRemoved: 0, reservationsReleased: 0, ignored: [], files });
}

describe('daily limit across processes', () => {
	it(`${PROCESSES} processes x 50 simultaneous flows for one user: exactly 5 generations in total`, { timeout: 60_000 }, async () => {
		const root = await newRoot();
		const storage = { maxUserDailyGens: 5, maxUserStorageMb: 1000, maxGlobalStorageMb: 5000, estimatedImageMb: 1.5 };

		// The workers also race to create the ledger (schema, WAL): the root starts empty.
		const tally = await runShards(() => ({
			storage: { ...storage, storageRoot: root },
			users: [USER],
			flowsPerUser: 50,
			flow: { imageBytes: 4096, maxGenerationMs: 3 }
		}));

		expect(tally.errors).toEqual([]);
		expect(tally.ok).toBe(5);
		expect(deniedByReason(tally)).toEqual({ DAILY_LIMIT: 195 });
		expect(tally.deniedAtSave).toEqual({});

		const pngs = (await readdir(join(root, 'images', 'users', USER))).filter((name) => name.endsWith('.png'));
		expect(pngs).toHaveLength(5);
		const disk = await diskUsage(root);
		expect(disk).toMatchObject({ images: 5, bytes: tally.storedBytes, partials: 0 });

		const manager = await freshManager(root, storage);
		try {
			const status = await manager.getQuotaStatus(USER);
			expect(status.daily).toMatchObject({ used: 5, pending: 0, remaining: 0, allowed: false });
			expect(status.user).toMatchObject({ files: 5, usedBytes: disk.bytes });
			expect(status.global).toMatchObject({ files: 5, usedBytes: disk.bytes });
			const images = await manager.getUserImages(USER);
			expect(images.ok && images.images.map((image) => `${image.id}.png`).sort()).toEqual(pngs.sort());
			await expectLedgerMatchesDisk(manager, 5);
			expect(await manager.getQuotaStatus(USER)).toEqual(status);
		} finally {
			await manager.close();
		}
	});
});

const estimates = [
	{ label: 'an estimate with room for the sidecar', estimatedBytes: IMAGE_BYTES + SIDECAR_BOUND },
	{ label: 'an estimate of the image size alone (the real size is a little larger)', estimatedBytes: IMAGE_BYTES }
];

describe.each(estimates)('global cap across processes, $label', ({ estimatedBytes }) => {
	it(`${PROCESSES} processes x 25 users x 2 flows never pass a 10 MB global cap, and fill it`, { timeout: 60_000 }, async () => {
		const root = await newRoot();
		const capMb = 10;
		const capBytes = capMb * BYTES_PER_MIB;
		const users = userIds(25);
		const storage = { maxUserDailyGens: 100, maxUserStorageMb: 100, maxGlobalStorageMb: capMb, estimatedImageMb: 1 };

		// Every process serves the same users, as shards of one bot would (a user's requests reach any shard).
		const tally = await runShards(() => ({
			storage: { ...storage, storageRoot: root },
			users,
			flowsPerUser: 2,
			flow: { imageBytes: IMAGE_BYTES, estimatedBytes, maxGenerationMs: 3 }
		}));

		expect(tally.errors).toEqual([]);
		// The ledger only grows in this test, so a final total within the cap was within it all along.
		const disk = await diskUsage(root);
		expect(disk.bytes).toBeLessThanOrEqual(capBytes);
		expect({ disk: disk.bytes, images: disk.images, partials: disk.partials }).toEqual({
			disk: tally.storedBytes,
			images: tally.ok,
			partials: 0
		});

		const manager = await freshManager(root, storage);
		try {
			const statuses = await Promise.all(users.map((user) => manager.getQuotaStatus(user)));
			expect(statuses[0]?.global).toMatchObject({ usedBytes: disk.bytes, files: disk.images });
			expect(statuses.reduce((sum, status) => sum + status.user.usedBytes, 0)).toBe(disk.bytes);
			expect(statuses.reduce((sum, status) => sum + status.daily.used, 0)).toBe(tally.ok);
			expect(statuses.reduce((sum, status) => sum + status.daily.pending, 0)).toBe(0);
			await expectLedgerMatchesDisk(manager, disk.images);
		} finally {
			await manager.close();
		}
		expect(Object.keys(deniedByReason(tally)), JSON.stringify(tally)).toEqual(['GLOBAL_QUOTA']);
		expect(tally.ok, `stored ${tally.ok} images; ${JSON.stringify(tally)}`).toBe(imagesThatFit(capBytes, IMAGE_BYTES));
	});
});
