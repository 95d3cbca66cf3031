import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { USER_A, USER_B } from '../helpers/storageFixtures.js';
import type { SaveLoopArgs } from './fixtures/saveLoop.js';
import {
	cliEnv,
	jsonOf,
	killChildren,
	newTempDir,
	REPO,
	removeTempDirs,
	runInProcess,
	spawnCli,
	sumBytes,
	track,
	TSX,
	walkStorage,
	type DiskState
} from './helpers.js';

/*
 * Crashes. A process saving (and sometimes deleting) images in a loop is SIGKILLed at random moments, again and
 * again, against one storage root. Afterwards `sapphire-imagine reconcile` must leave a ledger that equals the
 * disk exactly, with every acknowledged save there, no acknowledged delete back, and no half-written file listed.
 */

const LOOP = join(REPO, 'test', 'cli', 'fixtures', 'saveLoop.ts');
const KILLS = 24;
/**
 * Reconcile leaves a ledger row without its file alone for 60 s after the row's creation (it may be a save between
 * commit and rename in another process). The looping process's clock runs 5 minutes behind, so its rows are past
 * that grace when the test reconciles, as they would be for a bot restarted a minute or more after a crash.
 * The under-a-minute case is the known bug below.
 */
const CLOCK_SKEW_MS = 5 * 60_000;

afterEach(async () => {
	killChildren();
	await removeTempDirs();
});

interface Acknowledged {
	saved: Map<string, { owner: string; bytes: number }>;
	deleted: Set<string>;
	/** Deletes that had started; without a DEL, the kill came in the middle and the image may or may not be there. */
	deleting: Set<string>;
	crashedAt: string[];
}

function startLoop(args: SaveLoopArgs) {
	const child = track(
		spawn(process.execPath, ['--import', TSX, LOOP, JSON.stringify(args)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
	);
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveClose) =>
		child.on('close', (code, signal) => resolveClose({ code, signal }))
	);
	const ready = new Promise<boolean>((resolveReady) => {
		child.stdout.on('data', () => /^ready$/m.test(stdout) && resolveReady(true));
		void closed.then(() => resolveReady(false));
	});
	return { child, ready, closed, output: () => ({ stdout, stderr }) };
}

/** Reads what the killed process acknowledged: only whole lines count (a line cut by the kill was not acknowledged). */
function collect(stdout: string, into: Acknowledged): void {
	for (const line of stdout.split('\n').slice(0, -1)) {
		const [kind, id, owner, bytes] = line.split(' ');
		if (kind === 'ACK' && id && owner && bytes) into.saved.set(id, { owner, bytes: Number(bytes) });
		else if (kind === 'DEL' && id) into.deleted.add(id);
		else if (kind === 'DELETING' && id) into.deleting.add(id);
		else if (kind === 'CRASH' && id) into.crashedAt.push(id);
	}
}

async function runAndKill(args: SaveLoopArgs, acknowledged: Acknowledged, killAfterMs: () => number, waitForReady: boolean) {
	const loop = startLoop(args);
	if (waitForReady && !(await loop.ready)) throw new Error(`saveLoop ended early:\n${loop.output().stderr}`);
	await sleep(killAfterMs());
	loop.child.kill('SIGKILL');
	const { code, signal } = await loop.closed;
	const { stdout, stderr } = loop.output();
	if (signal !== 'SIGKILL') throw new Error(`saveLoop ended with ${code ?? signal} before the kill:\n${stderr}`);
	collect(stdout, acknowledged);
}

/** The ledger, as the CLI shows it, against the disk. */
async function expectLedgerEqualsDisk(env: NodeJS.ProcessEnv, users: readonly string[], disk: DiskState) {
	const report = jsonOf<{ global: { files: number; usedBytes: number }; tempFiles: number }>(await runInProcess(['report', '--json'], env));
	const onDisk = [...disk.images.values()];
	expect(report.global).toMatchObject({ files: disk.images.size, usedBytes: sumBytes(onDisk) });
	expect(report.tempFiles).toBe(onDisk.filter((image) => image.userId === null).length);
	for (const user of users) {
		const mine = onDisk.filter((image) => image.userId === user);
		const status = jsonOf<{ user: { files: number; usedBytes: number }; daily: { pending: number } }>(
			await runInProcess(['status', '--user', user, '--json'], env)
		);
		expect(status.user).toMatchObject({ files: mine.length, usedBytes: sumBytes(mine) });
		expect(status.daily.pending).toBe(0);
		const listed = jsonOf<{ images: { id: string; path: string; bytes: number }[] }>(
			await runInProcess(['images', '--user', user, '--json'], env)
		);
		expect(listed.images.map((image) => image.id).sort()).toEqual(mine.map((image) => image.id).sort());
		for (const image of listed.images) {
			expect(image.path).not.toContain('.partial-');
			expect(image.bytes).toBe(disk.images.get(image.id)?.bytes);
			expect((await stat(image.path)).isFile()).toBe(true);
		}
	}
}

describe('SIGKILL at random moments', () => {
	it(
		`${KILLS} kills of a process saving and deleting in a loop: after reconcile the ledger equals the disk`,
		{ timeout: 90_000 },
		async () => {
			const { root } = await newTempDir('imagine-crash-');
			const users = [USER_A, USER_B];
			const env = cliEnv(root, { MAX_USER_DAILY_GENS: '1000000' });
			const args: SaveLoopArgs = { storageRoot: root, users, clockSkewMs: CLOCK_SKEW_MS };
			const acknowledged: Acknowledged = { saved: new Map(), deleted: new Set(), deleting: new Set(), crashedAt: [] };

			for (let kill = 0; kill < KILLS; kill++) {
				// Every fourth kill comes at any point of start-up (opening the ledger included); the others while it saves.
				const early = kill % 4 === 3;
				await runAndKill(args, acknowledged, () => Math.floor(Math.random() * (early ? 400 : 250)), !early);
			}
			expect(acknowledged.saved.size, 'the loop saved too little to prove anything').toBeGreaterThan(KILLS * 2);
			expect(acknowledged.deleted.size).toBeGreaterThan(0);

			const reconcile = await spawnCli(['reconcile', '--json'], env);
			expect(reconcile.code, reconcile.stderr).toBe(0);
			const report = jsonOf<{ files: number; ignored: string[]; added: number }>(reconcile);

			const disk = await walkStorage(root);
			expect(report.files).toBe(disk.images.size);
			expect(report.ignored).toEqual([]);
			expect(disk.other).toEqual([]);
			// Every acknowledged save is there, whole; no acknowledged delete came back.
			for (const [id, { owner, bytes }] of acknowledged.saved) {
				if (acknowledged.deleting.has(id)) continue;
				expect(disk.images.get(id), `acknowledged image ${id} is missing`).toMatchObject({
					bytes,
					userId: owner === 'temp' ? null : owner
				});
			}
			for (const id of acknowledged.deleted) expect(disk.images.has(id), `deleted image ${id} came back`).toBe(false);
			// Leftovers of the kills are hidden partials or metadata without an image, never images nobody saved.
			for (const image of disk.images.values()) if (!acknowledged.saved.has(image.id)) expect(image.bytes).toBeGreaterThan(0);
			for (const partial of disk.partials) expect(partial).toMatch(/\/\.[0-9a-z]{16}\.[a-z]+\.partial-[0-9a-f]+$/);

			await expectLedgerEqualsDisk(env, users, disk);

			// A second reconcile finds nothing left to correct.
			const again = jsonOf(await runInProcess(['reconcile', '--json'], env));
			expect(again).toMatchObject({
				added: 0,
				removed: 0,
				resized: 0,
				partialsRemoved: 0,
				reservationsReleased: 0,
				files: disk.images.size
			});
		}
	);

	it(
		'a crash between the ledger commit and the rename, reconciled after the grace: the row is dropped, nothing half-written is listed',
		{ timeout: 30_000 },
		async () => {
			const { root } = await newTempDir('imagine-crash-');
			const env = cliEnv(root, { MAX_USER_DAILY_GENS: '1000000' });
			const acknowledged: Acknowledged = { saved: new Map(), deleted: new Set(), deleting: new Set(), crashedAt: [] };
			const loop = startLoop({
				storageRoot: root,
				users: [USER_A],
				clockSkewMs: CLOCK_SKEW_MS,
				crashAtImageRename: true,
				crashAfterSaves: 3,
				tempShare: 0,
				deleteShare: 0
			});
			expect((await loop.closed).signal).toBe('SIGKILL');
			collect(loop.output().stdout, acknowledged);
			const [crashed] = acknowledged.crashedAt;
			expect(crashed).toBeDefined();

			// Before reconcile the ledger holds the committed row of an image that never appeared.
			const before = jsonOf<{ images: { id: string }[] }>(await runInProcess(['images', '--user', USER_A, '--json'], env));
			expect(before.images.map((image) => image.id)).toContain(crashed);

			const reconcile = jsonOf(await runInProcess(['reconcile', '--json'], env));
			expect(reconcile).toMatchObject({ removed: 1, added: 0 });
			const disk = await walkStorage(root);
			expect(disk.images.has(crashed as string)).toBe(false);
			// What the crash left (the image's hidden partial, its metadata file) belongs to that image alone and is never listed.
			for (const path of [...disk.partials, ...disk.orphanSidecars]) expect(path).toContain(crashed);
			expect([...disk.images.keys()].sort()).toEqual([...acknowledged.saved.keys()].sort());
			await expectLedgerEqualsDisk(env, [USER_A], disk);
			expect((await runInProcess(['delete', '--user', USER_A, '--image', crashed as string], env)).code).toBe(1);
		}
	);

	/*
	 * A row whose image is missing is normally kept for 60 s (it may be another process's save between commit
	 * and rename). Partial files carry their writer's pid, so a save whose process died in that window is
	 * recognised at once: a bot restarted within the minute drops the phantom row in its start-up reconcile.
	 */
	it(
		'a crash between the ledger commit and the rename, reconciled at once (real clock): the ledger equals the disk',
		{ timeout: 30_000 },
		async () => {
			const { root } = await newTempDir('imagine-crash-');
			const env = cliEnv(root, { MAX_USER_DAILY_GENS: '1000000' });
			const acknowledged: Acknowledged = { saved: new Map(), deleted: new Set(), deleting: new Set(), crashedAt: [] };
			const loop = startLoop({
				storageRoot: root,
				users: [USER_A],
				clockSkewMs: 0,
				crashAtImageRename: true,
				crashAfterSaves: 3,
				tempShare: 0,
				deleteShare: 0
			});
			expect((await loop.closed).signal).toBe('SIGKILL');
			collect(loop.output().stdout, acknowledged);
			expect(acknowledged.crashedAt).toHaveLength(1);

			expect((await runInProcess(['reconcile', '--json'], env)).code).toBe(0);
			await expectLedgerEqualsDisk(env, [USER_A], await walkStorage(root));
		}
	);
});
