import { afterEach, describe, expect, it } from 'vitest';
import type { RateWorkerArgs, RateWorkerTally } from '../fixtures/rateWorker.js';
import { startCluster } from '../helpers/cluster.js';
import { postgresSkipNote, postgresUnavailable } from '../helpers/postgres.js';
import { raceWorkers, startReadyGoWorker } from '../helpers/readyGoWorker.js';
import { FakeStabilityServer, STABILITY_RATE_LIMIT, STABILITY_TEST_KEY } from './fakes/stabilityServer.js';

/**
 * Stability limits requests per API key (150 per 10 s, then a 60 s lock-out), whichever process sends them. Four
 * shard processes, each with its own storage folder, share one PostgreSQL ledger and one key; the fake enforces the
 * documented rule with 429s. Their rate windows live in the ledger, so together they stay under the key's limit.
 */
const PROCESSES = 4;
const LANES_PER_PROCESS = 16;
const RUN_MS = 30_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function runShards(fake: FakeStabilityServer, durationMs: number, shared: boolean): Promise<RateWorkerTally[]> {
	const cluster = await startCluster((cleanup) => cleanups.push(cleanup));
	const workers = Array.from({ length: PROCESSES }, (_, index) => {
		const args: RateWorkerArgs = {
			storage: { ...cluster.shared, storageRoot: cluster.rootOf(index) },
			stabilityUrl: fake.url,
			apiKey: STABILITY_TEST_KEY,
			parallel: LANES_PER_PROCESS,
			durationMs,
			shared
		};
		return startReadyGoWorker<RateWorkerTally>('test/fixtures/rateWorker.ts', args, {
			deadline: Date.now() + durationMs + 60_000,
			name: `shard ${index}`
		});
	});
	return raceWorkers(workers);
}

describe.skipIf(postgresUnavailable)(`one provider rate limit for every host${postgresSkipNote}`, () => {
	it('4 processes on one key: no 429 and at least 90 % of the allowed rate used', { timeout: 120_000 }, async () => {
		const fake = await FakeStabilityServer.start();
		cleanups.push(() => fake.close());
		const tallies = await runShards(fake, RUN_MS, true);

		expect(fake.rateLimited).toBe(0);
		expect(tallies.map((tally) => tally.failed)).toEqual(Array.from({ length: PROCESSES }, () => ({})));
		expect(fake.busiestWindow()).toBeLessThanOrEqual(STABILITY_RATE_LIMIT.maxRequests);
		// The most the rule allows in the first three windows is three windows' worth.
		const start = Math.min(...fake.arrivals);
		const windows = RUN_MS / STABILITY_RATE_LIMIT.windowMs;
		const allowed = windows * STABILITY_RATE_LIMIT.maxRequests;
		const sent = fake.arrivals.filter((arrival) => arrival < start + RUN_MS).length;
		expect(sent / allowed).toBeGreaterThanOrEqual(0.9);
		expect(tallies.reduce((sum, tally) => sum + tally.ok, 0)).toBe(fake.arrivals.length);
		expect(fake.problems).toEqual([]);
	});

	it('the same processes each with only their own window go past the limit and are locked out', { timeout: 120_000 }, async () => {
		const fake = await FakeStabilityServer.start();
		cleanups.push(() => fake.close());
		const tallies = await runShards(fake, 2000, false);

		expect(fake.rateLimited).toBeGreaterThan(0);
		expect(tallies.some((tally) => (tally.failed.RATE_LIMITED ?? 0) > 0)).toBe(true);
	});
});
