import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { QuotaLedger, RatePlaceClaim } from '../../../src/plugins/storage/ledger/QuotaLedger.js';
import { PostgresLedger } from '../../../src/plugins/storage/ledger/postgres/PostgresLedger.js';
import { SqliteLedger } from '../../../src/plugins/storage/ledger/sqlite/SqliteLedger.js';
import { createTestSchema, postgresUnavailable } from '../../helpers/postgres.js';
import { makeTempDir } from '../../helpers/storageFixtures.js';

/**
 * The places of a provider's shared rate window, on both ledgers: what keeps every process on one API key under the
 * key's limit together (the multi-process proof is test/generation/sharedRateLimit.test.ts).
 */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const ledgers: { name: string; skip: string | null; open: () => Promise<QuotaLedger> }[] = [
	{
		name: 'SQLite',
		skip: null,
		open: async () => {
			const temp = await makeTempDir();
			cleanups.push(temp.cleanup);
			const ledger = await SqliteLedger.open(`sqlite://${join(temp.dir, 'quota.sqlite')}`, 5000);
			cleanups.push(() => ledger.close());
			return ledger;
		}
	},
	{
		name: 'PostgreSQL',
		skip: postgresUnavailable,
		open: async () => {
			const schema = await createTestSchema();
			cleanups.push(() => schema.drop());
			const ledger = await PostgresLedger.open(pg, schema.uri(), { poolSize: 2, connectTimeoutMs: 5000 });
			cleanups.push(() => ledger.close());
			return ledger;
		}
	}
];

let nextId = 0;
function place(key: string, limit: number, windowMs: number, maxHoldMs = 60_000): RatePlaceClaim {
	return { id: `place-${nextId++}`, key, limit, windowMs, maxHoldMs };
}

describe.each(ledgers)('the $name ledger: shared rate places', ({ skip, open }) => {
	it.skipIf(skip)('grants `limit` places, then says to wait; a place ended frees a window after its end', async () => {
		const ledger = await open();
		const first = place('key-a', 2, 400);
		expect(await ledger.claimRatePlace(first)).toBeNull();
		expect(await ledger.claimRatePlace(place('key-a', 2, 400))).toBeNull();

		// Both requests still in flight: no place frees until one ends, so the answer is "ask again soon".
		const whileInFlight = await ledger.claimRatePlace(place('key-a', 2, 400));
		expect(whileInFlight).toBeGreaterThan(0);

		await ledger.endRatePlace(first.id, 400);
		const afterEnd = await ledger.claimRatePlace(place('key-a', 2, 400));
		// The ended place counts for the window after its end: the wait is about that window.
		expect(afterEnd).toBeGreaterThan(300);
		expect(afterEnd).toBeLessThanOrEqual(400);

		await sleep((afterEnd ?? 0) + 20);
		expect(await ledger.claimRatePlace(place('key-a', 2, 400))).toBeNull();
	});

	it.skipIf(skip)('keys are separate limits', async () => {
		const ledger = await open();
		expect(await ledger.claimRatePlace(place('key-a', 1, 10_000))).toBeNull();
		expect(await ledger.claimRatePlace(place('key-a', 1, 10_000))).toBeGreaterThan(0);
		expect(await ledger.claimRatePlace(place('key-b', 1, 10_000))).toBeNull();
	});

	it.skipIf(skip)('a place whose process died without ending it stops counting after the longest hold', async () => {
		const ledger = await open();
		expect(await ledger.claimRatePlace(place('key-a', 1, 10_000, 300))).toBeNull();
		expect(await ledger.claimRatePlace(place('key-a', 1, 10_000, 300))).toBeGreaterThan(0);
		await sleep(350);
		expect(await ledger.claimRatePlace(place('key-a', 1, 10_000, 300))).toBeNull();
	});

	it.skipIf(skip)('50 simultaneous claims for a limit of 7: exactly 7 granted', async () => {
		const ledger = await open();
		const answers = await Promise.all(Array.from({ length: 50 }, () => ledger.claimRatePlace(place('key-a', 7, 10_000))));
		expect(answers.filter((answer) => answer === null)).toHaveLength(7);
	});
});
