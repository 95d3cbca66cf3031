import { spawn } from 'node:child_process';
import { readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { LEASE_MS } from '../../../src/plugins/storage/Instance.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import type { StorageOptions } from '../../../src/plugins/storage/options.js';
import type { SaveLoopArgs } from '../../cli/fixtures/saveLoop.js';
import { killChildren, REPO, track, TSX } from '../../cli/helpers.js';
import type { WorkerArgs } from '../../fixtures/ledgerWorker.js';
import {
	BYTES_PER_MIB,
	deniedByReason,
	emptyTally,
	imagesThatFit,
	mergeTally,
	SIDECAR_BOUND,
	userIds,
	type Tally
} from '../../fixtures/storageFlows.js';
import { startCluster, type Cluster } from '../../helpers/cluster.js';
import { postgresSkipNote, postgresUnavailable } from '../../helpers/postgres.js';
import { killWorkers, raceWorkers, startReadyGoWorker } from '../../helpers/readyGoWorker.js';
import { USER_A, USER_B } from '../../helpers/storageFixtures.js';

/*
 * The invariants proven for one machine, proven again across hosts: processes that share no disk (each has its own
 * local folder, for logs) and share one PostgreSQL ledger and one bucket. The processes run on this machine but give
 * themselves other host names where liveness matters, so a dead one is judged by its lease, as on another host.
 */

const PROCESSES = 4;
const LEDGER_WORKER = join(REPO, 'test', 'fixtures', 'ledgerWorker.ts');
const SAVE_LOOP = join(REPO, 'test', 'cli', 'fixtures', 'saveLoop.ts');
const IMAGE_FILE = /\/([0-9a-z]{16})\.(png|jpg|webp|gif)$/;
/** Reconcile removes an upload without a commit only past this age (Reconciler's grace). */
const ORPHAN_GRACE_MS = 60_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	killWorkers();
	killChildren();
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const cluster = () => startCluster((cleanup) => cleanups.push(cleanup));

/** A manager on the cluster from another host's folder, after the workers are gone (no start-up reconcile). */
async function observer(on: Cluster, options: StorageOptions = {}, clock?: () => number): Promise<StorageManager> {
	const manager = await StorageManager.open(
		{ ...on.shared, ...options, storageRoot: on.rootOf(99), reconcileOnStart: false, cleanupIntervalMinutes: 0 },
		clock ? { clock } : {}
	);
	cleanups.push(() => manager.close());
	return manager;
}

async function bucketImages(on: Cluster): Promise<Set<string>> {
	const keys = await on.s3.keys(on.bucket);
	return new Set(keys.map((key) => IMAGE_FILE.exec(key)?.[1]).filter((id): id is string => id !== undefined));
}

async function runHosts(on: Cluster, storage: StorageOptions, argsFor: () => Omit<WorkerArgs, 'storage'>): Promise<Tally> {
	const deadline = Date.now() + 60_000;
	const workers = Array.from({ length: PROCESSES }, (_, host) =>
		startReadyGoWorker<Tally>(
			LEDGER_WORKER,
			{ ...argsFor(), storage: { ...on.shared, ...storage, storageRoot: on.rootOf(host) } },
			{ deadline, name: `host ${host}` }
		)
	);
	return (await raceWorkers(workers)).reduce(mergeTally, emptyTally());
}

async function expectNothingToCorrect(manager: StorageManager, files: number): Promise<void> {
	expect(await manager.reconcile()).toMatchObject({
		added: 0,
		removed: 0,
		resized: 0,
		partialsRemoved: 0,
		orphansRemoved: 0,
		reservationsReleased: 0,
		ignored: [],
		files
	});
}

function startLoop(args: SaveLoopArgs) {
	const child = track(
		spawn(process.execPath, ['--import', TSX, SAVE_LOOP, JSON.stringify(args)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
	);
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	const closed = new Promise<NodeJS.Signals | number | null>((resolveClose) =>
		child.on('close', (code, signal) => resolveClose(signal ?? code))
	);
	return { child, closed, output: () => ({ stdout, stderr }) };
}

describe.skipIf(postgresUnavailable)(`across hosts: own folders, one PostgreSQL ledger, one bucket${postgresSkipNote}`, () => {
	it(
		`${PROCESSES} hosts x 50 simultaneous reserve -> commit for one user with a daily limit of 5: exactly 5`,
		{ timeout: 90_000 },
		async () => {
			const on = await cluster();
			const storage = { maxUserDailyGens: 5, estimatedImageMb: 0.01 };
			const tally = await runHosts(on, storage, () => ({
				users: [USER_A],
				flowsPerUser: 50,
				flow: { imageBytes: 4096, maxGenerationMs: 3 }
			}));

			expect(tally.errors).toEqual([]);
			expect(tally.ok).toBe(5);
			expect(deniedByReason(tally)).toEqual({ DAILY_LIMIT: 195 });
			const inBucket = await bucketImages(on);
			expect(inBucket.size).toBe(5);

			const manager = await observer(on, storage);
			const status = await manager.getQuotaStatus(USER_A);
			expect(status.daily).toMatchObject({ used: 5, pending: 0, remaining: 0 });
			expect(status.user.files).toBe(5);
			const listed = await manager.getUserImages(USER_A);
			expect(listed.ok && new Set(listed.images.map((image) => image.id))).toEqual(inBucket);
			await expectNothingToCorrect(manager, 5);
		}
	);

	it(
		`${PROCESSES} hosts x 25 users x 2 flows racing for the last megabytes never pass a 10 MB global cap`,
		{ timeout: 90_000 },
		async () => {
			const on = await cluster();
			const capMb = 10;
			const users = userIds(25);
			const storage = { maxUserDailyGens: 100, maxUserStorageMb: 100, maxGlobalStorageMb: capMb, estimatedImageMb: 1 };
			const tally = await runHosts(on, storage, () => ({
				users,
				flowsPerUser: 2,
				flow: { imageBytes: BYTES_PER_MIB, estimatedBytes: BYTES_PER_MIB + SIDECAR_BOUND, maxGenerationMs: 3 }
			}));

			expect(tally.errors).toEqual([]);
			expect(Object.keys(deniedByReason(tally))).toEqual(['GLOBAL_QUOTA']);
			expect(tally.storedBytes).toBeLessThanOrEqual(capMb * BYTES_PER_MIB);
			expect(tally.ok).toBe(imagesThatFit(capMb * BYTES_PER_MIB, BYTES_PER_MIB));
			expect((await bucketImages(on)).size).toBe(tally.ok);

			const manager = await observer(on, storage);
			expect((await manager.getQuotaStatus(users[0] as string)).global).toMatchObject({ usedBytes: tally.storedBytes, files: tally.ok });
			await expectNothingToCorrect(manager, tally.ok);
		}
	);

	it(
		'20 SIGKILLs between upload and commit and between commit and response: after reconcile the ledger equals the bucket',
		{ timeout: 180_000 },
		async () => {
			const on = await cluster();
			const users = [USER_A, USER_B];
			const acknowledged = new Set<string>();
			const crashes = { before: 0, after: 0 };
			for (let kill = 0; kill < 20; kill++) {
				const crashAtCommit = kill % 2 === 0 ? 'before' : 'after';
				const loop = startLoop({
					storageRoot: on.rootOf(kill % PROCESSES),
					storage: on.shared,
					host: `host-${kill % PROCESSES}`,
					users,
					clockSkewMs: 0,
					crashAtCommit,
					crashAfterSaves: kill % 3,
					tempShare: 0,
					deleteShare: 0,
					maxMs: 30_000
				});
				const ended = await loop.closed;
				const { stdout, stderr } = loop.output();
				expect(ended, stderr).toBe('SIGKILL');
				for (const line of stdout.split('\n')) {
					const [kind, id] = line.split(' ');
					if (kind === 'ACK' && id) acknowledged.add(id);
				}
				expect(stdout).toContain(`CRASH ${crashAtCommit}-commit`);
				crashes[crashAtCommit]++;
			}
			// Each process acknowledged the saves before the one it crashed in.
			expect(acknowledged.size).toBe(Array.from({ length: 20 }, (_, kill) => kill % 3).reduce((sum, saves) => sum + saves, 0));

			// The uploads that never committed are past the grace (as after a restart a few minutes later): s3rver dates an
			// object by its file, so the files are dated back. The dead processes' leases have run out by the same clock.
			const past = new Date(Date.now() - 2 * ORPHAN_GRACE_MS);
			for (const entry of await readdir(on.s3.directory, { recursive: true, withFileTypes: true })) {
				if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), past, past);
			}
			const later = () => Date.now() + LEASE_MS + 5000;
			const manager = await observer(on, {}, later);
			const report = await manager.reconcile();
			// Each crash before its commit left one upload nobody committed; a crash after it left a committed image.
			expect(report.orphansRemoved).toBe(crashes.before);
			expect(report).toMatchObject({ added: 0, ignored: [] });

			const inBucket = await bucketImages(on);
			for (const id of acknowledged) expect(inBucket.has(id), `acknowledged image ${id} is missing`).toBe(true);
			const listed = new Set<string>();
			for (const user of users) {
				const images = await manager.getUserImages(user);
				if (!images.ok) throw new Error(images.message);
				for (const image of images.images) listed.add(image.id);
				expect((await manager.getQuotaStatus(user)).daily.pending).toBe(0);
			}
			expect(listed).toEqual(inBucket);
			// Committed but never acknowledged: one image per crash after its commit, kept (nothing acknowledged is lost,
			// and what was committed and charged is the user's).
			expect(inBucket.size).toBe(acknowledged.size + crashes.after);
			await expectNothingToCorrect(manager, inBucket.size);
		}
	);

	it(
		'reservations of a process killed on another host are released once its lease has run out, not before',
		{ timeout: 60_000 },
		async () => {
			const on = await cluster();
			const loop = startLoop({
				storageRoot: on.rootOf(0),
				storage: on.shared,
				host: 'host-elsewhere',
				users: [USER_A],
				clockSkewMs: 0,
				holdReservations: 3
			});
			for (let waited = 0; !loop.output().stdout.includes('HELD'); waited += 50) {
				if (waited > 30_000) throw new Error(`the process never held its reservations:\n${loop.output().stderr}`);
				await sleep(50);
			}
			loop.child.kill('SIGKILL');
			expect(await loop.closed).toBe('SIGKILL');

			// Within the lease, a process on another host may only be slow: its reservations stay.
			const now = await observer(on);
			expect(await now.reconcile()).toMatchObject({ reservationsReleased: 0 });
			expect((await now.getQuotaStatus(USER_A)).daily.pending).toBe(3);

			const afterLease = await observer(on, {}, () => Date.now() + LEASE_MS + 5000);
			expect(await afterLease.reconcile()).toMatchObject({ reservationsReleased: 3 });
			expect((await afterLease.getQuotaStatus(USER_A)).daily.pending).toBe(0);
		}
	);
});
