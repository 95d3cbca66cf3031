import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageConfigError } from '../../../src/plugins/storage/StorageConfigError.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { POSTGRES_SCHEMA_VERSION } from '../../../src/plugins/storage/ledger/postgres/schema.js';
import { makeTempDir, pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';
import { createTestSchema, postgresSkipNote, postgresUnavailable, startPostgresProxy, type TestSchema } from '../../helpers/postgres.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function schema(): Promise<TestSchema> {
	const created = await createTestSchema();
	cleanups.push(() => created.drop());
	return created;
}

async function openOn(ledgerUri: string, root?: string, options: Parameters<typeof StorageManager.open>[0] = {}) {
	const storageRoot = root ?? join((await tempDir()).dir, 'root');
	const manager = await StorageManager.open({ storageRoot, ledgerUri, cleanupIntervalMinutes: 0, ...options });
	cleanups.push(() => manager.close());
	return { manager, root: storageRoot };
}

async function tempDir() {
	const temp = await makeTempDir();
	cleanups.push(temp.cleanup);
	return temp;
}

async function generate(manager: StorageManager, userId: string) {
	const held = await manager.reserve(userId);
	if (!held.ok) return held;
	return manager.saveImage({ data: pngBytes(2048), userId, reservation: held.reservation });
}

describe.skipIf(postgresUnavailable)(`the PostgreSQL ledger${postgresSkipNote}`, () => {
	it('keeps the quotas as the SQLite ledger does: status, daily limit, byte caps, overrides, delete', async () => {
		const { manager } = await openOn((await schema()).uri(), undefined, {
			maxUserDailyGens: 2,
			maxUserStorageMb: 1,
			estimatedImageMb: 0.01
		});
		expect((await generate(manager, USER_A)).ok).toBe(true);
		expect((await generate(manager, USER_A)).ok).toBe(true);
		expect(await generate(manager, USER_A)).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
		const status = await manager.getQuotaStatus(USER_A);
		expect(status.daily).toMatchObject({ used: 2, remaining: 0 });
		expect(status.user.files).toBe(2);

		const big = await manager.saveImage({ data: pngBytes(2 * 1024 * 1024), userId: USER_B });
		expect(big).toMatchObject({ ok: false, reason: 'USER_QUOTA' });

		await manager.setUserLimits(USER_B, { dailyGens: 11 });
		const changed = await manager.setUserLimits(USER_B, { storageMb: 201 });
		expect(changed.ok && changed.override).toEqual({ dailyGens: 11, storageMb: 201 });

		const listed = await manager.getUserImages(USER_A);
		if (!listed.ok) throw new Error(listed.message);
		const removed = await manager.deleteImage(USER_A, listed.images[0]!.id);
		expect(removed.ok).toBe(true);
		expect((await manager.getQuotaStatus(USER_A)).user.files).toBe(1);
	});

	it('a daily limit beyond what a PostgreSQL integer holds is no limit, not a failure of every reservation', async () => {
		const { manager } = await openOn((await schema()).uri(), undefined, { maxUserDailyGens: 3_000_000_000 });
		expect((await generate(manager, USER_A)).ok).toBe(true);
		const changed = await manager.setUserLimits(USER_B, { dailyGens: 5_000_000_000 });
		expect(changed.ok).toBe(true);
		expect((await generate(manager, USER_B)).ok).toBe(true);
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, allowed: true });
	});

	it('200 simultaneous generations of one user with a daily limit of 5: exactly 5', async () => {
		const { manager } = await openOn((await schema()).uri(), undefined, { maxUserDailyGens: 5 });
		const results = await Promise.all(Array.from({ length: 200 }, () => generate(manager, USER_A)));
		expect(results.filter((result) => result.ok)).toHaveLength(5);
		expect(results.filter((result) => !result.ok && result.reason === 'DAILY_LIMIT')).toHaveLength(195);
		expect((await manager.getQuotaStatus(USER_A)).daily.used).toBe(5);
	});

	it('several hosts starting on a new database at once migrate it once', async () => {
		const test = await schema();
		const opened = await Promise.all(
			Array.from({ length: 6 }, () => openOn(test.uri(), undefined, { reconcileOnStart: false }).catch((error: unknown) => error))
		);
		// Six storage roots on one ledger: the first claims it, the others are refused as other storages.
		const managers = opened.filter((result): result is Awaited<ReturnType<typeof openOn>> => !(result instanceof Error));
		expect(managers).toHaveLength(1);
		expect(opened.filter((result) => result instanceof StorageConfigError)).toHaveLength(5);
		const [version] = await test.query<{ value: string }>("SELECT value FROM imagine_meta WHERE key = 'schema_version'");
		expect(Number(version?.value)).toBe(POSTGRES_SCHEMA_VERSION);
	});

	it('a lost connection fails calls as IO values, charges nothing twice, and the pool reconnects by itself', async () => {
		const test = await schema();
		const proxy = await startPostgresProxy();
		cleanups.push(() => proxy.close());
		const { manager } = await openOn(test.uri(proxy.hostPort), undefined, { maxUserDailyGens: 5, busyTimeoutMs: 2000 });
		const held = await manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);

		proxy.cut();
		const saved = await manager.saveImage({ data: pngBytes(2048), userId: USER_A, reservation: held.reservation });
		expect(saved).toMatchObject({ ok: false, reason: 'IO' });
		expect(await manager.reserve(USER_B)).toMatchObject({ ok: false, reason: 'IO' });

		proxy.restore();
		expect((await generate(manager, USER_A)).ok).toBe(true);
		const status = await manager.getQuotaStatus(USER_A);
		// The save that failed was not charged; the one after it was, once. The failed job's reservation still counts
		// as pending until it expires or its process goes (it was never released: the ledger was unreachable).
		expect(status.daily.used).toBe(1);
		expect(status.user.files).toBe(1);
		await manager.release(held.reservation);
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
	});

	it('32 processes at once stay within their pools: at most 2 connections each', async () => {
		const test = await schema();
		// Named connections, so only this test's are counted (other tests share the server).
		const uri = `${test.uri()}&application_name=${test.name}`;
		const first = await openOn(uri);
		const managers = [first.manager];
		for (let index = 1; index < 32; index++) managers.push((await openOn(uri, first.root, { reconcileOnStart: false })).manager);
		await Promise.all(managers.flatMap((manager) => Array.from({ length: 8 }, () => manager.getQuotaStatus(USER_A))));
		// Idle connections stay open for 30 s: what is open now is every connection the pools made.
		const [count] = await test.query<{ connections: string }>(
			'SELECT COUNT(*) AS connections FROM pg_stat_activity WHERE application_name = $1',
			[test.name]
		);
		expect(Number(count?.connections)).toBeGreaterThan(32);
		expect(Number(count?.connections)).toBeLessThanOrEqual(32 * 2);
	});
});
