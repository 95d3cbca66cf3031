import { afterEach, describe, expect, it } from 'vitest';
import { quotaLevel } from '../../src/plugins/storage/QuotaStatus.js';
import { QUOTA_RULES } from '../../src/plugins/storage/StorageManager.js';
import { BYTES_PER_MB } from '../../src/plugins/storage/units.js';
import { ManualClock, openTestStorage, pngBytes, USER_A, USER_B } from '../helpers/storageFixtures.js';

type Storage = Awaited<ReturnType<typeof openTestStorage>>;
let storage: Storage | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

/** One whole generation as the guarded job runs it: reserve, then save the real image against the reservation. */
async function generate(manager: Storage['manager'], userId: string, bytes = 1024) {
	const reserved = await manager.reserve(userId);
	if (!reserved.ok) return reserved;
	return manager.saveImage({ data: pngBytes(bytes), userId, reservation: reserved.reservation, metadata: { prompt: 'a lighthouse' } });
}

describe('quota status', () => {
	it('starts empty with the defaults of the original design', async () => {
		storage = await openTestStorage();
		const status = await storage.manager.getQuotaStatus(USER_A);
		expect(status.global).toMatchObject({ usedMb: 0, totalMb: 5000, percentage: 0, level: 'OK', allowed: true });
		expect(status.user).toMatchObject({ usedMb: 0, limitMb: 500, percentage: 0, level: 'OK', allowed: true });
		expect(status.daily).toMatchObject({ used: 0, pending: 0, limit: 5, remaining: 5, allowed: true });
		expect(status.limits).toEqual({ source: 'default' });
	});

	it.each([
		[0, 'OK'],
		[80, 'OK'],
		[80.1, 'WARNING'],
		[95, 'WARNING'],
		[95.1, 'CRITICAL'],
		[120, 'CRITICAL']
	] as const)('%d %% is %s', (percentage, level) => {
		expect(quotaLevel(percentage)).toBe(level);
	});

	it('reports WARNING and then CRITICAL as a user fills their quota', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 1 });
		const { manager } = storage;
		expect((await manager.saveImage({ data: pngBytes(0.85 * BYTES_PER_MB), userId: USER_A })).ok).toBe(true);
		expect((await manager.getQuotaStatus(USER_A)).user.level).toBe('WARNING');
		expect((await manager.saveImage({ data: pngBytes(0.12 * BYTES_PER_MB), userId: USER_A })).ok).toBe(true);
		const status = await manager.getQuotaStatus(USER_A);
		expect(status.user.level).toBe('CRITICAL');
		expect(status.user.allowed).toBe(false);
		expect((await manager.getQuotaStatus(USER_B)).user.level).toBe('OK');
	});

	it('still answers `status`, the former name of `level`, with the same value', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 1 });
		const { manager } = storage;
		expect((await manager.saveImage({ data: pngBytes(0.85 * BYTES_PER_MB), userId: USER_A })).ok).toBe(true);
		const status = await manager.getQuotaStatus(USER_A);
		expect(status.user).toMatchObject({ level: 'WARNING', status: 'WARNING' });
		expect(status.global).toMatchObject({ level: 'OK', status: 'OK' });
	});

	it('reads the ledger, not the disk: a file removed by hand still counts until reconcile', async () => {
		storage = await openTestStorage();
		const saved = await storage.manager.saveImage({ data: pngBytes(4096), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		const { rm } = await import('node:fs/promises');
		await rm(saved.image.path);
		expect((await storage.manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(saved.image.bytes);
	});
});

describe('daily generation limit', () => {
	it('allows exactly the limit, then denies with the count and the time to reset', async () => {
		const clock = new ManualClock(Date.UTC(2026, 10, 21, 20, 48, 0));
		storage = await openTestStorage({}, { clock: clock.read });
		for (let i = 0; i < 5; i++) expect((await generate(storage.manager, USER_A)).ok).toBe(true);
		const denied = await generate(storage.manager, USER_A);
		expect(denied).toMatchObject({
			ok: false,
			reason: 'DAILY_LIMIT',
			message: 'Daily generation limit reached (5/5). Resets in 3 h 12 min.'
		});
		expect(denied.ok === false && denied.status?.daily.resetsAt.toISOString()).toBe('2026-11-22T00:00:00.000Z');
		// Another user's allowance is their own.
		expect((await generate(storage.manager, USER_B)).ok).toBe(true);
	});

	it('resets at 00:00 UTC', async () => {
		const clock = new ManualClock(Date.UTC(2026, 10, 21, 23, 59, 0));
		storage = await openTestStorage({ maxUserDailyGens: 1 }, { clock: clock.read });
		expect((await generate(storage.manager, USER_A)).ok).toBe(true);
		expect((await generate(storage.manager, USER_A)).ok).toBe(false);
		clock.advance(59_000);
		expect((await generate(storage.manager, USER_A)).ok).toBe(false);
		clock.advance(1_000);
		const status = await storage.manager.getQuotaStatus(USER_A);
		expect(status.daily).toMatchObject({ used: 0, remaining: 1, allowed: true });
		expect((await generate(storage.manager, USER_A)).ok).toBe(true);
	});

	it('counts in-flight reservations, and a released one refunds', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 2 });
		const { manager } = storage;
		const first = await manager.reserve(USER_A);
		const second = await manager.reserve(USER_A);
		if (!first.ok || !second.ok) throw new Error('the first two reservations fit');
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 2, remaining: 0, allowed: false });
		const third = await manager.reserve(USER_A);
		expect(third).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
		expect(third.ok === false && third.message).toContain('2 still running');

		await manager.release(first.reservation);
		await manager.release(first.reservation); // twice is harmless
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ pending: 1, remaining: 1 });
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: second.reservation });
		expect(saved.ok).toBe(true);
		expect((await manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0, remaining: 1 });
	});

	it('stops counting a reservation whose job never came back once it expires', async () => {
		const clock = new ManualClock();
		storage = await openTestStorage({ maxUserDailyGens: 1, reservationTtlMinutes: 10 }, { clock: clock.read });
		expect((await storage.manager.reserve(USER_A)).ok).toBe(true);
		expect((await storage.manager.reserve(USER_A)).ok).toBe(false);
		clock.advance(10 * 60_000 + 1);
		expect((await storage.manager.reserve(USER_A)).ok).toBe(true);
	});

	it('a reservation held for a long job keeps counting past the default lifetime', async () => {
		const clock = new ManualClock();
		storage = await openTestStorage({ maxUserDailyGens: 1, reservationTtlMinutes: 10 }, { clock: clock.read });
		expect((await storage.manager.reserve(USER_A, { holdMs: 60 * 60_000 })).ok).toBe(true);
		clock.advance(30 * 60_000);
		expect(await storage.manager.reserve(USER_A)).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
	});

	it('a failed save is not charged', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const reserved = await storage.manager.reserve(USER_A);
		if (!reserved.ok) throw new Error(reserved.message);
		const saved = await storage.manager.saveImage({ data: Buffer.from('not an image'), userId: USER_A, reservation: reserved.reservation });
		expect(saved).toMatchObject({ ok: false, reason: 'INVALID_IMAGE' });
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 1 });
	});

	it('an admin can give a user today back', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		expect((await generate(storage.manager, USER_A)).ok).toBe(true);
		expect(await storage.manager.resetDailyCount(USER_A)).toEqual({ ok: true, previous: 1 });
		expect((await generate(storage.manager, USER_A)).ok).toBe(true);
	});
});

describe('byte quotas', () => {
	it('denies a user whose quota is full, with what to do about it, and spends nothing', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 2, estimatedImageMb: 1 });
		const { manager } = storage;
		expect((await generate(manager, USER_A, 1.5 * BYTES_PER_MB)).ok).toBe(true);
		const denied = await manager.reserve(USER_A);
		expect(denied).toMatchObject({ ok: false, reason: 'USER_QUOTA' });
		expect(denied.ok === false && denied.message).toMatch(
			/^Your storage quota is full: 1\.5 of 2 MB used\. Delete some of your images to make room\.$/
		);
		expect((await manager.getQuotaStatus(USER_A)).daily.used).toBe(1);
	});

	it('commits the real size: an image larger than its estimate that no longer fits is refused and not charged', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 1, estimatedImageMb: 0.1 });
		const reserved = await storage.manager.reserve(USER_A);
		if (!reserved.ok) throw new Error(reserved.message);
		const saved = await storage.manager.saveImage({ data: pngBytes(2 * BYTES_PER_MB), userId: USER_A, reservation: reserved.reservation });
		expect(saved).toMatchObject({ ok: false, reason: 'USER_QUOTA' });
		const status = await storage.manager.getQuotaStatus(USER_A);
		expect(status.user.usedBytes).toBe(0);
		expect(status.daily).toMatchObject({ used: 0, pending: 0 });
	});

	it('temp files count toward the global cap but not the user quota', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 1, maxGlobalStorageMb: 3 });
		const { manager } = storage;
		expect((await manager.saveImage({ data: pngBytes(2 * BYTES_PER_MB), userId: USER_A, temp: true })).ok).toBe(true);
		const status = await manager.getQuotaStatus(USER_A);
		expect(status.user.usedBytes).toBe(0);
		expect(status.global.usedBytes).toBeGreaterThan(2 * BYTES_PER_MB);
		expect(status.global.tempMb).toBeGreaterThanOrEqual(2);
		const denied = await manager.saveImage({ data: pngBytes(1.2 * BYTES_PER_MB), userId: USER_B, temp: true });
		expect(denied).toMatchObject({ ok: false, reason: 'GLOBAL_QUOTA' });
		expect(denied.ok === false && denied.message).toContain("The bot's image storage is full");
	});

	it('checkQuota reads the status once and reports the first rule broken, in the order asked, as the reservation would', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 2, estimatedImageMb: 1, maxUserDailyGens: 1 }, { clock: new ManualClock().read });
		const { manager } = storage;
		expect(await manager.checkQuota(USER_A, QUOTA_RULES)).toMatchObject({ ok: true, status: { daily: { remaining: 1 } } });
		expect((await generate(manager, USER_A, 1.5 * BYTES_PER_MB)).ok).toBe(true);
		// Both the day and the storage are used up now: the reservation names the day first, and so does the check.
		const reserved = await manager.reserve(USER_A);
		const checked = await manager.checkQuota(USER_A, QUOTA_RULES);
		expect(checked).toMatchObject({ ok: false, reason: 'DAILY_LIMIT', status: { user: { allowed: false } } });
		expect(checked.ok === false && checked.message).toBe(reserved.ok === false && reserved.message);
		expect(await manager.checkQuota(USER_A, ['user', 'daily'])).toMatchObject({ ok: false, reason: 'USER_QUOTA' });
		expect(await manager.checkQuota(USER_A, 'global')).toMatchObject({ ok: true });
	});

	it('deleting an image gives its bytes back', async () => {
		storage = await openTestStorage({ maxUserStorageMb: 1 });
		const saved = await storage.manager.saveImage({ data: pngBytes(0.9 * BYTES_PER_MB), userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		expect((await storage.manager.saveImage({ data: pngBytes(0.2 * BYTES_PER_MB), userId: USER_A })).ok).toBe(false);
		const deleted = await storage.manager.deleteImage(USER_A, saved.image.id);
		expect(deleted).toMatchObject({ ok: true, freedMb: 0.9 });
		expect((await storage.manager.getQuotaStatus(USER_A)).user.usedBytes).toBe(0);
		expect((await storage.manager.saveImage({ data: pngBytes(0.2 * BYTES_PER_MB), userId: USER_A })).ok).toBe(true);
	});
});

describe('effective limits', () => {
	const tiers = [
		{ name: 'Supporter', roleId: '900000000000000001', dailyGens: 20, storageMb: 1000 },
		{ name: 'Patron', roleId: '900000000000000002', dailyGens: 50, storageMb: 2000 }
	];

	it('the best role tier a member holds wins', async () => {
		storage = await openTestStorage({ roleTiers: tiers });
		const status = await storage.manager.getQuotaStatus(USER_A, { roleIds: ['900000000000000001', '900000000000000002', '1'] });
		expect(status.daily.limit).toBe(50);
		expect(status.user.limitMb).toBe(2000);
		expect(status.limits).toEqual({ source: 'tier', tierName: 'Patron' });
		expect((await storage.manager.getQuotaStatus(USER_A, { roleIds: ['900000000000000001'] })).limits.tierName).toBe('Supporter');
		expect((await storage.manager.getQuotaStatus(USER_A)).limits.source).toBe('default');
	});

	it('owners get their own allowance, within the global cap', async () => {
		storage = await openTestStorage({ ownerIds: [USER_B], maxGlobalStorageMb: 800 });
		const status = await storage.manager.getQuotaStatus(USER_B);
		expect(status.limits.source).toBe('owner');
		expect(status.daily.limit).toBe(100);
		expect(status.user.limitMb).toBe(800);
	});

	it("an admin's override wins field by field and survives a restart", async () => {
		storage = await openTestStorage({ roleTiers: tiers, maxUserDailyGens: 1 });
		expect((await storage.manager.setUserLimits(USER_A, { dailyGens: 3 })).ok).toBe(true);
		const status = await storage.manager.getQuotaStatus(USER_A, { roleIds: ['900000000000000001'] });
		expect(status.daily.limit).toBe(3);
		expect(status.user.limitMb).toBe(1000); // the tier's storage is kept
		expect(status.limits.source).toBe('override');
		for (let i = 0; i < 3; i++) expect((await generate(storage.manager, USER_A)).ok).toBe(true);
		expect((await generate(storage.manager, USER_A)).ok).toBe(false);

		// A later change of one limit keeps the other override.
		expect(await storage.manager.setUserLimits(USER_A, { storageMb: 50 })).toMatchObject({
			ok: true,
			override: { dailyGens: 3, storageMb: 50 }
		});

		await storage.manager.close();
		const reopened = (storage.manager = await storage.reopen());
		expect((await reopened.getQuotaStatus(USER_A)).daily.limit).toBe(3);
		expect((await reopened.getQuotaStatus(USER_A)).user.limitMb).toBe(50);
		await reopened.setUserLimits(USER_A, null);
		expect((await reopened.getQuotaStatus(USER_A)).daily.limit).toBe(1);
	});
});

describe('options', () => {
	it('a wrong option fails with the field, the value and what is expected', async () => {
		await expect(openTestStorage({ maxUserStorageMb: -5 })).rejects.toThrow(
			/maxUserStorageMb: expected a number of megabytes above 0 \(got -5\)/
		);
		await expect(openTestStorage({ ledgerUri: 'redis://localhost' })).rejects.toThrow(/ledgerUri: expected sqlite:\/\/<file>/);
		// @ts-expect-error a misspelt option is refused, not ignored
		await expect(openTestStorage({ maxUserStorageMB: 5 })).rejects.toThrow(/maxUserStorageMB/);
	});
});
