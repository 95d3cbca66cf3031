import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresLedger } from '../../../src/plugins/storage/ledger/postgres/PostgresLedger.js';
import { POSTGRES_MIGRATIONS } from '../../../src/plugins/storage/ledger/postgres/schema.js';
import type { ReservationRow } from '../../../src/plugins/storage/ledger/QuotaLedger.js';
import { createTestSchema, postgresSkipNote, postgresUnavailable, type TestSchema } from '../../helpers/postgres.js';
import { USER_A, USER_B } from '../../helpers/storageFixtures.js';
import { counterMismatches, counters, DAY, NOW, reservationRow, WIDE_LIMITS as LIMITS } from './ledgerRows.js';

/**
 * The PostgreSQL ledger keeps the bytes of all live reservations as counters (schema 5) instead of summing the table:
 * the counter must equal that sum through reservations, releases, commits, expiry and purges, and a ledger upgraded
 * with reservations in flight must start from their sum.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function schema(): Promise<TestSchema> {
	const created = await createTestSchema();
	cleanups.push(() => created.drop());
	return created;
}

async function open(test: TestSchema): Promise<PostgresLedger> {
	const ledger = await PostgresLedger.open(pg, test.uri(), { poolSize: 2, connectTimeoutMs: 5000 });
	cleanups.push(() => ledger.close());
	return ledger;
}

function reservation(userId: string, bytes: number, expiresAt: number, temp = false): ReservationRow {
	return reservationRow(userId, { bytes, expiresAt, temp });
}

/** What the ledger counts as reserved at `now`, beside the sum of the rows themselves. */
async function reservedAt(ledger: PostgresLedger, test: TestSchema, now: number) {
	const [row] = await test.query<{ sum: string | null }>('SELECT SUM(bytes) AS sum FROM imagine_reservations WHERE expires_at > $1', [now]);
	return { counted: (await ledger.usage(USER_A, DAY, now)).reservedGlobalBytes, summed: Number(row?.sum ?? 0) };
}

describe.skipIf(postgresUnavailable)(`the PostgreSQL ledger's reserved bytes${postgresSkipNote}`, () => {
	it('equal the live reservations through reserve, release, commit, expiry and purge', async () => {
		const test = await schema();
		const ledger = await open(test);
		const rows = [
			reservation(USER_A, 1000, NOW + 60_000),
			reservation(USER_A, 2000, NOW + 60_000),
			reservation(USER_B, 4000, NOW + 1000),
			reservation(USER_B, 8000, NOW + 60_000, true)
		];
		for (const row of rows) expect(await ledger.reserve(row, LIMITS)).toEqual({ ok: true });
		expect(await reservedAt(ledger, test, NOW)).toEqual({ counted: 15_000, summed: 15_000 });

		await ledger.release(rows[1]!.id);
		expect(await reservedAt(ledger, test, NOW)).toEqual({ counted: 13_000, summed: 13_000 });

		const imageId = '0000000000000001';
		const file = { imageId, userId: USER_A, temp: false, ext: 'png' as const, bytes: 900, createdAt: NOW, name: imageId, metadata: '{}' };
		expect(await ledger.commit(file, { reservationId: rows[0]!.id, day: DAY, cost: 1, guildId: null, credits: 0 }, LIMITS)).toEqual({
			ok: true
		});
		expect(await reservedAt(ledger, test, NOW)).toEqual({ counted: 12_000, summed: 12_000 });

		// USER_B's first reservation has expired: it no longer counts, purged or not.
		expect(await reservedAt(ledger, test, NOW + 2000)).toEqual({ counted: 8000, summed: 8000 });
		await ledger.purgeReservations(NOW + 2000, []);
		expect(await reservedAt(ledger, test, NOW + 2000)).toEqual({ counted: 8000, summed: 8000 });
		// And the global cap sees the same figure.
		const tight = { ...LIMITS, globalBytes: 900 + 8000 + 100 };
		expect(await ledger.reserve(reservation(USER_A, 101, NOW + 60_000), tight)).toEqual({ ok: false, failed: 'GLOBAL_QUOTA' });
		expect(await ledger.reserve(reservation(USER_A, 100, NOW + 60_000), tight)).toEqual({ ok: true });
	});

	it('a ledger upgraded from schema 2 with reservations in flight counts them', async () => {
		const test = await schema();
		const [version1, version2] = POSTGRES_MIGRATIONS;
		await test.query(`${version1}${version2}`);
		await test.query("INSERT INTO imagine_meta (key, value) VALUES ('schema_version', '2')");
		await test.query(
			`INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, created_at, expires_at, owner)
			VALUES ('r1', $1, $2, 3000, 1, false, $3, $4, 'abcd1234'), ('r2', $1, $2, 5000, 1, true, $3, $4, 'abcd1234')`,
			[USER_A, DAY, NOW, NOW + 60_000]
		);
		const ledger = await open(test);
		expect(await reservedAt(ledger, test, NOW)).toEqual({ counted: 8000, summed: 8000 });
		await ledger.release('r2');
		expect(await reservedAt(ledger, test, NOW)).toEqual({ counted: 3000, summed: 3000 });
	});

	it('every counter equals what its rows sum to after 8 connections reserve, commit, release, delete and purge at once', async () => {
		const test = await schema();
		const ledger = await PostgresLedger.open(pg, test.uri(), { poolSize: 8, connectTimeoutMs: 5000 });
		cleanups.push(() => ledger.close());
		const users = Array.from({ length: 6 }, (_, index) => `9${String(index).padStart(17, '0')}`);
		const guilds = ['810000000000000001', '810000000000000002', null];
		let sequence = 0;
		const loop = async (worker: number) => {
			for (let step = 0; step < 60; step++) {
				const index = sequence++;
				const userId = users[index % users.length] as string;
				const guildId = guilds[index % guilds.length] ?? null;
				const temp = index % 5 === 0;
				const row: ReservationRow = {
					...reservation(userId, 1000 + (index % 7) * 100, index % 4 === 0 ? NOW + 10 : NOW + 600_000, temp),
					job: index % 2 === 0,
					guildId,
					credits: index % 3 === 0 ? 2500 : 0
				};
				expect(await ledger.reserve(row, LIMITS)).toEqual({ ok: true });
				const choice = (worker + step) % 4;
				if (choice === 0) {
					await ledger.release(row.id);
				} else if (choice !== 3) {
					const imageId = index.toString(16).padStart(16, '0');
					const file = { imageId, userId, temp, ext: 'png' as const, bytes: 900 + index, createdAt: NOW, name: imageId, metadata: '{}' };
					const charge = { reservationId: row.id, day: DAY, cost: 1, guildId, credits: row.credits };
					expect(await ledger.commit(file, charge, LIMITS)).toEqual({ ok: true });
					if (choice === 2 && index % 3 === 0) await ledger.removeFile(userId, imageId);
				}
				// Some are left to run out (expiry NOW + 10) and be purged by whichever loop gets there.
				if (step % 10 === 9) await ledger.purgeReservations(NOW + 1000, []);
			}
		};
		await Promise.all(Array.from({ length: 8 }, (_, worker) => loop(worker)));

		const mismatches = await counters(test);
		expect(mismatches.filter((row) => row.counted !== row.summed)).toEqual([]);
		expect(mismatches.length).toBeGreaterThan(20);
		const [counts] = await test.query<{ reservations: string; files: string }>(
			'SELECT (SELECT COUNT(*) FROM imagine_reservations) AS reservations, (SELECT COUNT(*) FROM imagine_files) AS files'
		);
		// The mix left work of every kind: live reservations and stored images.
		expect(Number(counts?.reservations)).toBeGreaterThan(0);
		expect(Number(counts?.files)).toBeGreaterThan(0);
	});

	it('a reconcile puts counters that no longer match their rows right, and says how many', async () => {
		const test = await schema();
		const ledger = await open(test);
		const guildId = '810000000000000001';
		for (const userId of [USER_A, USER_B]) {
			expect(await ledger.reserve(reservationRow(userId, { guildId, credits: 2500, job: true }), LIMITS)).toEqual({ ok: true });
		}
		expect(await counterMismatches(test)).toEqual([]);
		await test.query("UPDATE imagine_totals SET held_bytes = held_bytes + 999, jobs = 7 WHERE scope IN ('global', 'u:' || $1)", [USER_A]);
		await test.query('UPDATE imagine_daily SET held = 40 WHERE user_id = $1', [USER_B]);
		await test.query('UPDATE imagine_guild_daily SET held = 0');
		await test.query("UPDATE imagine_credit_daily SET held = 1 WHERE scope = 'global'");
		expect(await ledger.rebuildTotals()).toBe(5);
		expect(await counterMismatches(test)).toEqual([]);
		expect(await ledger.rebuildTotals()).toBe(0);
	});
});
