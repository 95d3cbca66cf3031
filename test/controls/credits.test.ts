import { afterEach, expect, it } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { ImageJobs } from '../../src/plugins/generation/ImageJobs.js';
import type { GenerationOptions } from '../../src/plugins/generation/options.js';
import { FakeStabilityServer, STABILITY_TEST_KEY } from '../generation/fakes/stabilityServer.js';
import { USER_A, USER_B } from '../helpers/storageFixtures.js';
import pg from 'pg';
import { PostgresLedger } from '../../src/plugins/storage/ledger/postgres/PostgresLedger.js';
import { SqliteLedger } from '../../src/plugins/storage/ledger/sqlite/SqliteLedger.js';
import { utcDay } from '../../src/plugins/storage/clock.js';
import { describeEachLedger, type ControlsFixture, type LedgerBackend } from './ledgers.js';

let fixture: ControlsFixture | undefined;
let generator: ImageGenerator | undefined;
let fake: FakeStabilityServer | undefined;
afterEach(async () => {
	await generator?.close();
	await fake?.close();
	await fixture?.close();
	fixture = generator = fake = undefined;
});

function jobsWith(options: GenerationOptions) {
	generator = ImageGenerator.create(options);
	const storage = fixture!.manager;
	return new ImageJobs(generator, () => storage, { jobTimeoutMs: 10_000, dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 } });
}

const ask = (jobs: ImageJobs, userId = USER_A, guildId: string | null = null) =>
	jobs.run({ kind: 'text-to-image', userId, guildId, request: { prompt: 'a lighthouse', width: 64, height: 64 } });

/**
 * Takes back today's charge of one generation and `milliCredits` through the ledger port itself, as the storage does
 * when a stored image cannot be published.
 */
async function refundThroughLedger(backend: LedgerBackend, userId: string, guildId: string | null, milliCredits: number) {
	const uri = fixture!.ledgerUri;
	const ledger =
		backend.name === 'sqlite'
			? await SqliteLedger.open(uri, 5000)
			: await PostgresLedger.open(pg, uri, { poolSize: 1, connectTimeoutMs: 5000 });
	try {
		await ledger.refundDaily(userId, utcDay(Date.now()), 1, guildId, milliCredits);
	} finally {
		await ledger.close();
	}
}

const GUILD = '810000000000000001';
const OTHER_GUILD = '810000000000000002';

describeEachLedger('the credit budget', (backend) => {
	it('200 simultaneous requests at 2.5 credits against a budget of 100: exactly 40 run, never a credit over', async () => {
		fixture = await backend.open({ maxUserDailyGens: 10_000, dailyCreditBudget: 100 });
		const jobs = jobsWith({ provider: 'preview', creditCosts: { preview: { 'text-to-image': 2.5 } } });
		const users = Array.from({ length: 20 }, (_, index) => `7${String(index).padStart(17, '0')}`);
		const results = await Promise.all(Array.from({ length: 200 }, (_, index) => ask(jobs, users[index % users.length])));
		expect(results.filter((result) => result.ok)).toHaveLength(40);
		expect(results.filter((result) => !result.ok && result.reason === 'CREDIT_BUDGET')).toHaveLength(160);
		expect(await fixture.manager.credits.today()).toEqual({
			ok: true,
			day: expect.any(String),
			global: { spent: 100, reserved: 0, budget: 100 }
		});
		expect(results.find((result) => !result.ok)?.message).toBe(
			"The bot's image budget for today is used up. Try again after 00:00 UTC; nothing was charged."
		);
	});

	it("a user's budget, set in the ledger over the configuration's, holds for that user only; decimals are charged exactly", async () => {
		fixture = await backend.open({ maxUserDailyGens: 100, userDailyCreditBudget: 1 });
		const jobs = jobsWith({ provider: 'preview', creditCosts: { preview: { 'text-to-image': 0.1 } } });
		expect(await fixture.manager.credits.setBudget(0.3, { userId: USER_A })).toMatchObject({ ok: true, user: { id: USER_A, budget: 0.3 } });
		const results = await Promise.all(Array.from({ length: 6 }, () => ask(jobs)));
		// 0.1 + 0.1 + 0.1 is 0.3 exactly in milli-credits (in floating point it is 0.30000000000000004).
		expect(results.filter((result) => result.ok)).toHaveLength(3);
		expect(results.find((result) => !result.ok)).toMatchObject({
			reason: 'CREDIT_BUDGET',
			message: 'Your image credits for today are used up (0.3 of 0.3). They come back at 00:00 UTC; nothing was charged.'
		});
		expect(
			(await fixture.manager.credits.today({ userId: USER_A })).ok && (await fixture.manager.credits.today({ userId: USER_A }))
		).toMatchObject({
			user: { spent: 0.3, reserved: 0, budget: 0.3 }
		});
		// Another user keeps the configuration's 1 credit.
		expect((await Promise.all(Array.from({ length: 12 }, () => ask(jobs, USER_B)))).filter((result) => result.ok)).toHaveLength(10);
	});

	it("a server's budget holds for all its members together: 200 simultaneous requests, exactly 4 at 2.5 against 10", async () => {
		fixture = await backend.open({ maxUserDailyGens: 10_000, guildDailyCreditBudget: 100 });
		const jobs = jobsWith({ provider: 'preview', creditCosts: { preview: { 'text-to-image': 2.5 } } });
		// The ledger's budget for this server wins over GUILD_DAILY_CREDIT_BUDGET; every other server keeps 100.
		expect(await fixture.manager.credits.setBudget(10, { guildId: GUILD })).toMatchObject({ ok: true, guild: { id: GUILD, budget: 10 } });
		const members = Array.from({ length: 20 }, (_, index) => `7${String(index).padStart(17, '0')}`);
		const results = await Promise.all(Array.from({ length: 200 }, (_, index) => ask(jobs, members[index % members.length], GUILD)));
		expect(results.filter((result) => result.ok)).toHaveLength(4);
		expect(results.filter((result) => !result.ok && result.reason === 'CREDIT_BUDGET')).toHaveLength(196);
		expect(results.find((result) => !result.ok)?.message).toBe(
			"This server's image budget for today is used up (all members together). It comes back at 00:00 UTC; nothing was charged."
		);
		expect(await fixture.manager.credits.today({ guildId: GUILD })).toMatchObject({
			global: { spent: 10, reserved: 0, budget: null },
			guild: { id: GUILD, spent: 10, reserved: 0, budget: 10 }
		});
		// The same members elsewhere, and in a DM, are not held back by this server's budget.
		expect((await ask(jobs, members[0], OTHER_GUILD)).ok).toBe(true);
		expect((await ask(jobs, members[1])).ok).toBe(true);
		expect(await fixture.manager.credits.today({ guildId: OTHER_GUILD })).toMatchObject({ guild: { spent: 2.5, budget: 100 } });

		// A charge taken back gives the server its credits back: one more job fits.
		await refundThroughLedger(backend, members[0] as string, GUILD, 2500);
		expect(await fixture.manager.credits.today({ guildId: GUILD })).toMatchObject({ guild: { spent: 7.5 } });
		expect((await ask(jobs, members[2], GUILD)).ok).toBe(true);
		expect(await ask(jobs, members[3], GUILD)).toMatchObject({ ok: false, reason: 'CREDIT_BUDGET' });
	});

	it("Stability's price table by default (core 3); a failed or filtered generation gives its credits back", async () => {
		fixture = await backend.open({ dailyCreditBudget: 10 });
		fake = await FakeStabilityServer.start();
		const jobs = jobsWith({ provider: 'stability', stability: { apiKey: STABILITY_TEST_KEY, host: fake.url } });
		fake.script({ kind: 'filtered' }, { kind: 'error', status: 400, name: 'bad_request', message: 'no' });
		expect(await ask(jobs)).toMatchObject({ ok: false, reason: 'CONTENT_FILTERED' });
		expect((await ask(jobs)).ok).toBe(false);
		expect(await fixture.manager.credits.today()).toMatchObject({ global: { spent: 0, reserved: 0 } });
		for (let index = 0; index < 3; index++) expect((await ask(jobs)).ok).toBe(true);
		expect(await fixture.manager.credits.today()).toMatchObject({ global: { spent: 9, reserved: 0, budget: 10 } });
		expect(await ask(jobs)).toMatchObject({ reason: 'CREDIT_BUDGET' });
		expect(fake.requests).toHaveLength(5);
	});

	it('a charge taken back after all (an image that could not be published) gives its credits back too', async () => {
		fixture = await backend.open({ dailyCreditBudget: 10 });
		const jobs = jobsWith({ provider: 'preview', creditCosts: { preview: { 'text-to-image': 2.5 } } });
		expect((await ask(jobs)).ok).toBe(true);
		await refundThroughLedger(backend, USER_A, null, 2500);
		expect(await fixture.manager.credits.today({ userId: USER_A })).toMatchObject({ global: { spent: 0 }, user: { spent: 0 } });
		expect((await fixture.manager.getQuotaStatus(USER_A)).daily.used).toBe(0);
	});
});
