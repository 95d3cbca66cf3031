import { KeyvSqlite } from '@keyv/sqlite';
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { METADATA_ALLOWANCE, type Reservation } from '../../../src/plugins/storage/StorageManager.js';
import { makeTempDir, openTestStorage, pngBytes, USER_A } from '../../helpers/storageFixtures.js';
import { listTree, partialFiles } from './disk.js';

/**
 * Disk faults (tests run as root, so permissions cannot be denied: a path component that is a file, a file
 * size limit and a locked ledger stand in). Each must give a failure value that says nothing was stored,
 * give the reservation back (daily allowance and bytes), and leave no half-written file.
 */

type Storage = Awaited<ReturnType<typeof openTestStorage>>;

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
let storage: Storage | undefined;

async function open(...args: Parameters<typeof openTestStorage>): Promise<Storage> {
	storage = await openTestStorage(...args);
	return storage;
}

afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

async function reserveOrThrow(
	manager: Storage['manager'],
	request: Parameters<Storage['manager']['reserve']>[1] = {}
): Promise<Reservation> {
	const reserved = await manager.reserve(USER_A, request);
	if (!reserved.ok) throw new Error(`setup reserve failed: ${reserved.message}`);
	return reserved.reservation;
}

/** The IO failure a user sees: says nothing was stored, and leaks no path, errno or id. */
function expectCleanIoFailure(result: unknown, root: string): void {
	expect(result).toMatchObject({ ok: false, reason: 'IO' });
	const { message } = result as { message: string };
	expect(message).toMatch(/nothing was stored/i);
	for (const secret of [root, '/tmp', USER_A, 'EEXIST', 'ENOTDIR', 'EFBIG', 'ENOENT', 'images/users'])
		expect(message).not.toContain(secret);
}

describe('the user folder cannot be created (a file is in the way)', () => {
	it('saveImage with a reservation: IO, nothing stored, the daily allowance and bytes come back', async () => {
		const { manager, root } = await open({ maxUserStorageMb: 1, maxUserDailyGens: 5 });
		const blocker = join(root, 'images', 'users', USER_A);
		await writeFile(blocker, 'not a folder');

		const reservation = await reserveOrThrow(manager, { estimatedBytes: 512 * 1024 });
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 1, remaining: 4 });

		const result = await manager.saveImage({ data: pngBytes(4096), userId: USER_A, reservation });
		expectCleanIoFailure(result, root);

		const after = await manager.getQuotaStatus(USER_A);
		expect(after.daily).toMatchObject({ used: 0, pending: 0, remaining: 5 });
		expect(after.user).toMatchObject({ usedBytes: 0, files: 0 });
		// The reserved bytes are free again: the whole 1 MB (with room for metadata) can be reserved.
		expect(await manager.reserve(USER_A, { estimatedBytes: 1024 * 1024 - METADATA_ALLOWANCE, cost: 0 })).toMatchObject({ ok: true });
		expect(await readFile(blocker, 'utf8')).toBe('not a folder');
		expect(await partialFiles(root)).toEqual([]);
		const listed = await manager.getUserImages(USER_A);
		expect(listed.ok && listed.images).toEqual([]);
	});

	it('saveImage without a reservation: IO, and the bytes it held for the write are free again', async () => {
		const { manager, root } = await open({ maxUserStorageMb: 1 });
		await writeFile(join(root, 'images', 'users', USER_A), 'not a folder');
		expectCleanIoFailure(await manager.saveImage({ data: pngBytes(600_000), userId: USER_A }), root);
		expect(await manager.reserve(USER_A, { estimatedBytes: 1024 * 1024 - METADATA_ALLOWANCE, cost: 0 })).toMatchObject({ ok: true });
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
		expect(await partialFiles(root)).toEqual([]);
	});

	it('a temp save whose temp/ folder became a file: IO, nothing stored, allowance back', async () => {
		const { manager, root } = await open();
		await rm(join(root, 'temp'), { recursive: true });
		await writeFile(join(root, 'temp'), 'not a folder');
		const reservation = await reserveOrThrow(manager, { temp: true });
		expectCleanIoFailure(await manager.saveImage({ data: pngBytes(), userId: USER_A, reservation }), root);
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 5 });
		expect((await manager.getReport()).global).toMatchObject({ usedBytes: 0, files: 0 });
	});
});

describe('the disk refuses the bytes midway (file size limit, EFBIG)', () => {
	it('IO, the half-written partial is removed, and the reservation is released', async () => {
		const temp = await makeTempDir('imagine-fsize-');
		try {
			const root = join(temp.dir, 'root');
			const script = join(temp.dir, 'save.mjs');
			await writeFile(
				script,
				`const [managerPath, root, userId] = process.argv.slice(2);
const { StorageManager } = await import(managerPath);
const manager = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0 });
const reserved = await manager.reserve(userId);
if (!reserved.ok) throw new Error(reserved.message);
const before = await manager.getQuotaStatus(userId);
const data = Buffer.alloc(3 * 1024 * 1024, 0x2a);
Buffer.from('89504e470d0a1a0a', 'hex').copy(data);
const saved = await manager.saveImage({ data, userId, reservation: reserved.reservation });
const after = await manager.getQuotaStatus(userId);
await manager.close();
process.stdout.write(JSON.stringify({ saved, before: before.daily, after: after.daily }));
`
			);
			const managerPath = join(repoRoot, 'src', 'plugins', 'storage', 'StorageManager.ts');
			// 1024 blocks of 1 KiB: the 3 MiB image cannot be written, the small ledger and metadata can.
			const { stdout } = await promisify(execFile)(
				'bash',
				['-c', 'ulimit -f 1024 && exec "$0" --import tsx "$@"', process.execPath, script, managerPath, root, USER_A],
				{ cwd: repoRoot }
			);
			const outcome = JSON.parse(stdout) as { saved: unknown; before: { pending: number }; after: Record<string, number> };

			expect(outcome.before.pending).toBe(1);
			expectCleanIoFailure(outcome.saved, root);
			expect(outcome.after).toMatchObject({ used: 0, pending: 0, remaining: 5 });
			expect(await partialFiles(root)).toEqual([]);
			expect(await listTree(join(root, 'images', 'users', USER_A))).toEqual([]);
		} finally {
			await temp.cleanup();
		}
	});
});

describe('the ledger is locked by another process', () => {
	it('saveImage answers with a failure value and leaves no partial file behind', async () => {
		const { manager, root } = await open({ busyTimeoutMs: 1 });
		const reservation = await reserveOrThrow(manager);
		const other = new KeyvSqlite({ uri: `sqlite://${join(root, 'quota.sqlite')}` });
		try {
			await other.query('BEGIN IMMEDIATE');
			let result: unknown;
			try {
				result = await manager.saveImage({ data: pngBytes(), userId: USER_A, reservation });
			} catch (error) {
				result = { threw: String(error) };
			}
			await other.query('ROLLBACK');
			expect.soft(await partialFiles(root)).toEqual([]);
			expect.soft(await listTree(join(root, 'images', 'users', USER_A))).toEqual([]);
			expect.soft(result).toMatchObject({ ok: false, reason: 'IO' });
		} finally {
			await other.disconnect();
		}
	});
});

describe('data that is not an image', () => {
	const notImages: { label: string; data: Uint8Array }[] = [
		{ label: 'text', data: Buffer.from('hello, I am not a picture') },
		{ label: 'empty', data: new Uint8Array(0) },
		{ label: 'a PNG signature cut short', data: Buffer.from('89504e470d0a1a', 'hex') },
		{ label: 'HTML error page', data: Buffer.from('<!doctype html><title>502 Bad Gateway</title>') },
		{ label: 'a string instead of bytes', data: 'iVBORw0KGgo=' as unknown as Uint8Array }
	];

	it.each(notImages)('$label: INVALID_IMAGE, nothing on disk, reservation released', async ({ data }) => {
		const { manager, root } = await open();
		const reservation = await reserveOrThrow(manager);
		expect(await manager.saveImage({ data, userId: USER_A, reservation })).toMatchObject({ ok: false, reason: 'INVALID_IMAGE' });
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 5 });
		expect(await listTree(join(root, 'images', 'users'))).toEqual([]);
		expect(await readdir(join(root, 'temp'))).toEqual([]);
	});
});

describe('a failure between reserve and save', () => {
	it('release gives everything back: allowance, pending count and bytes; a second release is harmless', async () => {
		const { manager } = await open({ maxUserStorageMb: 1, maxUserDailyGens: 1 });
		const before = await manager.getQuotaStatus(USER_A);
		const reservation = await reserveOrThrow(manager, { estimatedBytes: 1024 * 1024 - METADATA_ALLOWANCE });

		const held = await manager.getQuotaStatus(USER_A);
		expect(held.daily).toMatchObject({ pending: 1, remaining: 0, allowed: false });
		expect(held.user.allowed).toBe(false);
		expect(await manager.reserve(USER_A, { estimatedBytes: 1 })).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
		expect(await manager.reserve(USER_A, { estimatedBytes: 1, cost: 0 })).toMatchObject({ ok: false, reason: 'USER_QUOTA' });

		await manager.release(reservation); // e.g. the provider call failed
		await manager.release(reservation);

		const after = await manager.getQuotaStatus(USER_A);
		expect(after.daily).toEqual(before.daily);
		expect(after.user).toEqual(before.user);
		expect(await manager.reserve(USER_A, { estimatedBytes: 1024 * 1024 - METADATA_ALLOWANCE })).toMatchObject({ ok: true });
	});
});

describe('the real size no longer fits', () => {
	it('a 2 MB image on a 100 KB reservation under a 1 MB cap: USER_QUOTA, nothing on disk, daily not charged', async () => {
		const { manager, root } = await open({ maxUserStorageMb: 1 });
		const reservation = await reserveOrThrow(manager, { estimatedBytes: 100 * 1024 });

		const result = await manager.saveImage({ data: pngBytes(2 * 1024 * 1024), userId: USER_A, reservation });
		expect(result).toMatchObject({ ok: false, reason: 'USER_QUOTA' });
		expect((result as { message: string }).message).toMatch(/quota/i);

		const after = await manager.getQuotaStatus(USER_A);
		expect(after.daily).toMatchObject({ used: 0, pending: 0, remaining: 5 });
		expect(after.user).toMatchObject({ usedBytes: 0, files: 0 });
		expect(await listTree(join(root, 'images', 'users', USER_A))).toEqual([]);
		const listed = await manager.getUserImages(USER_A);
		expect(listed.ok && listed.images).toEqual([]);
	});

	it('a temp image above the global cap: GLOBAL_QUOTA, nothing in temp/, daily not charged', async () => {
		const { manager, root } = await open({ maxGlobalStorageMb: 1 });
		const reservation = await reserveOrThrow(manager, { estimatedBytes: 100 * 1024, temp: true });
		const result = await manager.saveImage({ data: pngBytes(2 * 1024 * 1024), userId: USER_A, reservation });
		expect(result).toMatchObject({ ok: false, reason: 'GLOBAL_QUOTA' });
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 5 });
		expect(await readdir(join(root, 'temp'))).toEqual([]);
		expect((await manager.getReport()).global).toMatchObject({ usedBytes: 0, files: 0 });
	});
});
