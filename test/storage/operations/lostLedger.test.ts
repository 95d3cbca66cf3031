import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageConfigError } from '../../../src/plugins/storage/StorageConfigError.js';
import { cliEnv, jsonOf, runInProcess } from '../../cli/helpers.js';
import { openTestStorage, pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';

let storage: Awaited<ReturnType<typeof openTestStorage>> | undefined;
afterEach(async () => {
	await storage?.close();
	storage = undefined;
});

async function generate(
	manager: NonNullable<typeof storage>['manager'],
	userId: string,
	temp = false,
	job: { guildId?: string; credits?: number } = {}
) {
	const held = await manager.reserve(userId, { temp, ...job });
	if (!held.ok) throw new Error(held.message);
	const saved = await manager.saveImage({ data: pngBytes(), userId, temp, reservation: held.reservation });
	if (!saved.ok) throw new Error(saved.message);
	return saved.image;
}

describe('a lost ledger', () => {
	it("is rebuilt with today's generation counts, so nobody gets a fresh day", async () => {
		storage = await openTestStorage({ maxUserDailyGens: 5 });
		for (let index = 0; index < 3; index++) await generate(storage.manager, USER_A);
		await generate(storage.manager, USER_A, true);
		await generate(storage.manager, USER_B);
		await storage.manager.saveImage({ data: pngBytes(), userId: USER_B }); // a plain save is charged nothing
		await storage.manager.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(join(storage.root, `quota.sqlite${suffix}`), { force: true });

		storage.manager = await storage.reopen();
		const a = await storage.manager.getQuotaStatus(USER_A);
		expect(a.daily).toMatchObject({ used: 4, remaining: 1 });
		expect(a.user.files).toBe(3);
		expect((await storage.manager.getQuotaStatus(USER_B)).daily.used).toBe(1);
		expect((await storage.manager.whenReconciled())?.countsRestored).toBe(2);
	});

	it("is rebuilt with today's credit spend, the bot's, each user's and each server's, so the budgets still hold", async () => {
		const guildId = '810000000000000001';
		storage = await openTestStorage({ maxUserDailyGens: 50, dailyCreditBudget: 10, guildDailyCreditBudget: 5 });
		await generate(storage.manager, USER_A, false, { guildId, credits: 2.5 });
		await generate(storage.manager, USER_B, false, { guildId, credits: 2.5 });
		await generate(storage.manager, USER_B, false, { credits: 2.5 });
		await storage.manager.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(join(storage.root, `quota.sqlite${suffix}`), { force: true });

		storage.manager = await storage.reopen();
		await storage.manager.whenReconciled();
		expect(await storage.manager.credits.today({ userId: USER_B, guildId })).toMatchObject({
			global: { spent: 7.5, budget: 10 },
			user: { spent: 5 },
			guild: { spent: 5, budget: 5 }
		});
		// The server's budget is spent, the bot's has room for one more job outside it.
		expect(await storage.manager.reserve(USER_A, { guildId, credits: 2.5 })).toMatchObject({ ok: false, reason: 'CREDIT_BUDGET' });
		expect((await storage.manager.reserve(USER_A, { credits: 2.5 })).ok).toBe(true);
		expect((await storage.manager.credits.history(30)).at(-1)).toMatchObject({ spent: 7.5, generations: 3 });
	});

	it("a ledger that knows its images keeps its own counts: an admin's reset does not come back", async () => {
		storage = await openTestStorage({ maxUserDailyGens: 5 });
		await generate(storage.manager, USER_A);
		await generate(storage.manager, USER_A);
		await storage.manager.resetDailyCount(USER_A);
		await storage.manager.reconcile();
		expect((await storage.manager.getQuotaStatus(USER_A)).daily.used).toBe(0);
	});
});

describe('a damaged ledger', () => {
	it('is named as damaged, with what to do, instead of a bare SQLite error', async () => {
		storage = await openTestStorage();
		await storage.manager.close();
		const file = join(storage.root, 'quota.sqlite');
		for (const suffix of ['-wal', '-shm']) await rm(`${file}${suffix}`, { force: true });
		await writeFile(file, Buffer.alloc(8192, 'not a database '));
		const opening = storage.reopen();
		await expect(opening).rejects.toBeInstanceOf(StorageConfigError);
		await expect(opening).rejects.toThrowError(`Move it aside (mv ${file} ${file}.damaged) and start again`);
		const run = await runInProcess(['report', '--json'], cliEnv(storage.root));
		expect(run.code).toBe(2);
		expect(jsonOf(run)).toMatchObject({ reason: 'CONFIG', message: expect.stringContaining('is damaged') });
		// Moved aside, as the message says: the images rebuild a new ledger.
		await rm(file);
		storage.manager = await storage.reopen();
	});
});

describe('a ledger file deleted while the storage runs', () => {
	it('is noticed; the storage opens the ledger again and rebuilds it, so every process shares one ledger', async () => {
		const errors: string[] = [];
		storage = await openTestStorage(
			{ maxUserDailyGens: 5 },
			{ logger: { info: () => undefined, warn: () => undefined, error: (message) => errors.push(message) } }
		);
		await generate(storage.manager, USER_A);
		await generate(storage.manager, USER_A);
		expect(await storage.manager.verifyLedger()).toBeNull();
		for (const suffix of ['', '-wal', '-shm']) await rm(join(storage.root, `quota.sqlite${suffix}`), { force: true });

		expect(await storage.manager.verifyLedger()).toMatch(/quota\.sqlite was deleted while in use$/);
		expect(errors[0]).toMatch(/was deleted while in use; opening the ledger again and rebuilding it from the image store$/);
		const status = await storage.manager.getQuotaStatus(USER_A);
		expect({ files: status.user.files, used: status.daily.used }).toEqual({ files: 2, used: 2 });
		// The command-line tool (another process) now reads the same ledger as the running storage.
		const other = await storage.reopen({ reconcileOnStart: false });
		expect((await other.getQuotaStatus(USER_A)).user.files).toBe(2);
		await generate(storage.manager, USER_A);
		expect((await other.getQuotaStatus(USER_A)).daily.used).toBe(3);
		await other.close();
	});
});
