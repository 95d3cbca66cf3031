import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import type { WorkerArgs } from '../../fixtures/ledgerWorker.js';
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
const children = new Set<ChildProcessWithoutNullStreams>();

afterEach(async () => {
	for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	children.clear();
	await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function newRoot(): Promise<string> {
	const root = await mkdtemp(join(tmpdir(), 'imagine-shards-'));
	roots.push(root);
	return root;
}

interface Worker {
	ready: Promise<void>;
	done: Promise<Tally>;
	go(): void;
}

/** Starts one ledgerWorker; a non-zero exit or a deadline miss rejects with the child's stderr in the message. */
function startWorker(name: string, args: WorkerArgs, deadline: number): Worker {
	const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(args)], { cwd: REPO, stdio: 'pipe' });
	children.add(child);
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	child.stdin.on('error', () => undefined); // a child that died early must fail the test through `done`, not an EPIPE
	const describeChild = () => `${name} (pid ${child.pid})\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

	const done = new Promise<Tally>((resolveDone, rejectDone) => {
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			rejectDone(new Error(`${describeChild()}\nkilled: still running after the deadline`));
		}, deadline - Date.now()).unref();
		child.on('error', (error) => {
			clearTimeout(timer);
			rejectDone(new Error(`${describeChild()}\ncould not start: ${error.message}`));
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			const lines = stdout.split('\n').filter((line) => line.trim() !== '' && line !== 'ready');
			if (code !== 0 || lines.length !== 1) {
				rejectDone(new Error(`${describeChild()}\nexited with ${signal ?? `code ${code}`}, expected code 0 and one JSON line`));
				return;
			}
			try {
				resolveDone(JSON.parse(lines[0] as string) as Tally);
			} catch (error) {
				rejectDone(new Error(`${describeChild()}\nbad JSON: ${String(error)}`));
			}
		});
	});
	const ready = new Promise<void>((resolveReady, rejectReady) => {
		const check = () => {
			if (/^ready$/m.test(stdout)) resolveReady();
		};
		child.stdout.on('data', check);
		done.then(
			() => rejectReady(new Error(`${describeChild()}\nexited before "ready"`)),
			(error: unknown) => rejectReady(error)
		);
	});
	// Settled by the test through `done`; this only keeps a rejection nobody awaits yet from going unhandled.
	ready.catch(() => undefined);
	done.catch(() => undefined);
	return { ready, done, go: () => child.stdin.end('go\n') };
}

/**
 * Starts the workers, waits until every one has opened the ledger, then says go to all at once so their
 * flows overlap, and sums their tallies.
 */
async function runShards(argsFor: (index: number) => WorkerArgs): Promise<Tally> {
	const deadline = Date.now() + DEADLINE_MS;
	const workers = Array.from({ length: PROCESSES }, (_, index) => startWorker(`worker ${index}`, argsFor(index), deadline));
	await Promise.all(workers.map((worker) => worker.ready));
	for (const worker of workers) worker.go();
	const tallies = await Promise.all(workers.map((worker) => worker.done));
	return tallies.reduce(mergeTally, emptyTally());
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
