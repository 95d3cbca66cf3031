import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresLedger } from '../../../src/plugins/storage/ledger/postgres/PostgresLedger.js';
import type { AdmissionOutcome, FileRow } from '../../../src/plugins/storage/ledger/QuotaLedger.js';
import { createTestSchema, postgresSkipNote, postgresUnavailable, type TestSchema } from '../../helpers/postgres.js';
import { commitItem, counterMismatches, DAY, NOW, reservationRow, WIDE_LIMITS as LIMITS } from './ledgerRows.js';

/**
 * The PostgreSQL ledger sends admissions that arrive while its connections are busy as one batch (schema 8): every
 * admission must still get the answer it would get alone, whatever else shares its batch.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function setUp(): Promise<{ test: TestSchema; ledger: PostgresLedger }> {
	const test = await createTestSchema();
	cleanups.push(() => test.drop());
	const ledger = await PostgresLedger.open(pg, test.uri(), { poolSize: 2, connectTimeoutMs: 5000 });
	cleanups.push(() => ledger.close());
	return { test, ledger };
}

const USERS = Array.from({ length: 8 }, (_, index) => `7${String(index).padStart(17, '0')}`);
const GUILD = '820000000000000001';

function fileOf(userId: string, imageId: string, bytes = 900): FileRow {
	return { imageId, userId, temp: false, ext: 'png', bytes, createdAt: NOW, name: imageId, metadata: '{}' };
}

function tally(outcomes: AdmissionOutcome[]): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const outcome of outcomes) {
		const key = outcome.ok ? 'ok' : outcome.failed;
		counts[key] = (counts[key] ?? 0) + 1;
	}
	return counts;
}

describe.skipIf(postgresUnavailable)(`the PostgreSQL ledger's batched admissions${postgresSkipNote}`, () => {
	it('48 reservations at once from 8 users with a daily limit of 4: each user gets exactly 4, refusals hold back no one else', async () => {
		const { test, ledger } = await setUp();
		const limits = { ...LIMITS, dailyGens: 4 };
		const rows = USERS.flatMap((userId) => Array.from({ length: 6 }, () => reservationRow(userId)));
		const outcomes = await Promise.all(rows.map((row) => ledger.reserve(row, limits)));

		for (const userId of USERS) {
			const mine = outcomes.filter((_, index) => rows[index]!.userId === userId);
			expect(tally(mine)).toEqual({ ok: 4, DAILY_LIMIT: 2 });
		}
		const [held] = await test.query<{ count: string }>('SELECT COUNT(*) AS count FROM imagine_reservations');
		expect(Number(held?.count)).toBe(32);

		// Their commits, all at once too: every image recorded, every counter what its rows say.
		const admitted = rows.filter((_, index) => outcomes[index]!.ok);
		const committed = await Promise.all(
			admitted.map((row, index) =>
				ledger.commit(
					fileOf(row.userId, index.toString(16).padStart(16, '0')),
					{ reservationId: row.id, day: DAY, cost: 1, guildId: null, credits: 0 },
					limits
				)
			)
		);
		expect(tally(committed)).toEqual({ ok: 32 });
		expect(await counterMismatches(test)).toEqual([]);
		for (const userId of USERS) expect((await ledger.usage(userId, DAY, NOW)).dailyUsed).toBe(4);
	});

	it('the last global bytes go to as many reservations as fit, in one batch or several, and never one more', async () => {
		const { test, ledger } = await setUp();
		const limits = { ...LIMITS, globalBytes: 10 * 1000 + 500 };
		const rows = Array.from({ length: 30 }, (_, index) => reservationRow(USERS[index % USERS.length] as string, { bytes: 1000 }));
		const outcomes = await Promise.all(rows.map((row) => ledger.reserve(row, limits)));
		expect(tally(outcomes)).toEqual({ ok: 10, GLOBAL_QUOTA: 20 });
		const [held] = await test.query<{ bytes: string }>("SELECT held_bytes AS bytes FROM imagine_totals WHERE scope = 'global'");
		expect(Number(held?.bytes)).toBe(10_000);
	});

	it("a commit whose charge is not its reservation's fails alone; the images committed beside it are recorded", async () => {
		const { test, ledger } = await setUp();
		const rows = USERS.map((userId) => reservationRow(userId, { guildId: GUILD }));
		for (const row of rows) expect(await ledger.reserve(row, LIMITS)).toEqual({ ok: true });

		const results = await Promise.allSettled(
			rows.map((row, index) =>
				ledger.commit(
					fileOf(row.userId, `00000000000000a${index}`),
					// The fourth names no server although its reservation was made in one.
					{ reservationId: row.id, day: DAY, cost: 1, guildId: index === 3 ? null : GUILD, credits: 0 },
					LIMITS
				)
			)
		);
		expect(results.map((result) => result.status)).toEqual(rows.map((_, index) => (index === 3 ? 'rejected' : 'fulfilled')));
		expect(String((results[3] as PromiseRejectedResult).reason)).toMatch(/is not its reservation's/);
		const [files] = await test.query<{ count: string }>('SELECT COUNT(*) AS count FROM imagine_files');
		expect(Number(files?.count)).toBe(7);
		// The refused one's reservation is still held, whole.
		const [left] = await test.query<{ id: string }>('SELECT id FROM imagine_reservations');
		expect(left?.id).toBe(rows[3]!.id);
		expect(await counterMismatches(test)).toEqual([]);
	});

	it('two images of one batch naming the same reservation end it once: what the other reservations hold stays counted', async () => {
		const { test, ledger } = await setUp();
		const userId = USERS[0] as string;
		const shared = reservationRow(userId, { job: true, credits: 5, bytes: 10 });
		const other = reservationRow(userId, { job: true, credits: 5, bytes: 10 });
		for (const row of [shared, other]) expect(await ledger.reserve(row, LIMITS)).toEqual({ ok: true });
		const item = (imageId: string) => commitItem(userId, imageId, shared.id, { bytes: 8, charge_credits: 5 });
		await test.query('SELECT imagine_commit_many($1::jsonb)', [JSON.stringify([item('00000000000000c1'), item('00000000000000c2')])]);
		expect(await counterMismatches(test)).toEqual([]);
		expect(await ledger.usage(userId, DAY, NOW)).toMatchObject({ dailyUsed: 2, dailyPending: 1, reservedUserBytes: 10, userFiles: 2 });
	});

	it('a limit that is not a finite number is refused with a clear error, not taken as no limit, and holds back no one else', async () => {
		const { test, ledger } = await setUp();
		const results = await Promise.allSettled(
			USERS.slice(0, 6).map((userId, index) =>
				ledger.reserve(reservationRow(userId), index === 2 ? { ...LIMITS, userBytes: Number.POSITIVE_INFINITY } : LIMITS)
			)
		);
		expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
		expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/user_limit must be a finite number/);
		const [held] = await test.query<{ count: string }>('SELECT COUNT(*) AS count FROM imagine_reservations');
		expect(Number(held?.count)).toBe(5);
	});

	it('a host still on the previous release admits through the same rules (its single-admission calls)', async () => {
		const { test, ledger } = await setUp();
		const userId = USERS[0] as string;
		const reserve = (id: string) =>
			test.query(
				`SELECT imagine_reserve($1, $2, $3, 100, 1, false, false, NULL, 0, $4, $5, 'abcd1234', 1000, 1, 1000, 1000000, 1000000,
					1000000, 1000000, 1000000) AS outcome`,
				[id, userId, DAY, NOW, NOW + 600_000]
			);
		expect(await reserve('old-1')).toEqual([{ outcome: 'ok' }]);
		await expect(reserve('old-2')).rejects.toMatchObject({ code: 'IMQ01', message: 'DAILY_LIMIT' });
		// The current release sees the same day: the limit of 1 is held.
		expect(await ledger.reserve(reservationRow(userId), { ...LIMITS, dailyGens: 1 })).toEqual({ ok: false, failed: 'DAILY_LIMIT' });
		expect(
			await test.query(
				`SELECT imagine_commit($1, '00000000000000b1', false, 'png', 90, $2, 'n', '{}', 'old-1', $3, 1, NULL, 0, 1000000, 1000000) AS outcome`,
				[userId, NOW, DAY]
			)
		).toEqual([{ outcome: 'ok' }]);
		expect(await ledger.usage(userId, DAY, NOW)).toMatchObject({ dailyUsed: 1, dailyPending: 0, userBytes: 90, reservedUserBytes: 0 });
		expect(await counterMismatches(test)).toEqual([]);
	});
});
