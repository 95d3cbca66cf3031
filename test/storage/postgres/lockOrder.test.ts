import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresLedger } from '../../../src/plugins/storage/ledger/postgres/PostgresLedger.js';
import { createTestSchema, postgresSkipNote, postgresUnavailable, type TestSchema } from '../../helpers/postgres.js';
import { USER_A, USER_B } from '../../helpers/storageFixtures.js';
import { commitItem, counterMismatches, DAY, NOW, reservationRow, WIDE_LIMITS as LIMITS } from './ledgerRows.js';

/**
 * The PostgreSQL ledger's counter rows are always taken in one order (schema 5), so two statements never wait for
 * each other. Each case here holds one row from a third session so that the two statements under test reach their
 * locks in the order that used to deadlock; the statements are sent on plain connections (no retry), so a deadlock
 * would be an error here, not a hidden second attempt.
 */
const GUILD = '810000000000000001';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function setUp(): Promise<{ test: TestSchema; ledger: PostgresLedger; session: () => Promise<pg.Client> }> {
	const test = await createTestSchema();
	cleanups.push(() => test.drop());
	const ledger = await PostgresLedger.open(pg, test.uri(), { poolSize: 2, connectTimeoutMs: 5000 });
	cleanups.push(() => ledger.close());
	const session = async () => {
		const client = new pg.Client({ connectionString: test.uri() });
		await client.connect();
		cleanups.push(() => client.end());
		return client;
	};
	return { test, ledger, session };
}

/** Resolves once a backend that `whereBackend` selects in pg_stat_activity waits for a lock (what the next step of a case needs before it starts). */
async function waitsForLock(watcher: pg.Client, whereBackend: string, value: unknown, what: string): Promise<void> {
	for (let attempt = 0; attempt < 200; attempt++) {
		const { rows } = await watcher.query<{ waiting: boolean }>(
			`SELECT bool_or(wait_event_type = 'Lock') AS waiting FROM pg_stat_activity WHERE ${whereBackend} AND pid <> pg_backend_pid()`,
			[value]
		);
		if (rows[0]?.waiting) return;
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
	throw new Error(`${what} never waited for a lock`);
}

/** Resolves once `client`'s backend waits for a lock. */
function blocked(watcher: pg.Client, client: pg.Client): Promise<void> {
	const pid = (client as unknown as { processID: number }).processID;
	return waitsForLock(watcher, 'pid = $1', pid, `backend ${pid}`);
}

/** Resolves once a backend running a statement whose text contains `fragment` waits for a lock. */
function blockedOn(watcher: pg.Client, fragment: string): Promise<void> {
	return waitsForLock(watcher, "query LIKE '%' || $1 || '%'", fragment, `a statement with "${fragment}"`);
}

/**
 * A second ledger on the same schema whose connections look for deadlocks only after a minute: when a statement of
 * it and one of a plain session wait for each other, the plain session (deadlock_timeout 1 s) is the one PostgreSQL
 * ends, so a cycle fails the case instead of being hidden by the ledger's retry.
 */
async function patientLedger(test: TestSchema): Promise<PostgresLedger> {
	const uri = new URL(test.uri());
	uri.searchParams.set('options', `${uri.searchParams.get('options') ?? ''} -c deadlock_timeout=60s`);
	const ledger = await PostgresLedger.open(pg, uri.toString(), { poolSize: 2, connectTimeoutMs: 5000 });
	cleanups.push(() => ledger.close());
	return ledger;
}

/** Images of a batch of commits (schema 8), each ending its reservation, as one call on a plain session. */
function commitBatchSql(items: { userId: string; imageId: string; reservationId: string }[]) {
	return {
		text: 'SELECT imagine_commit_many($1::jsonb)',
		values: [JSON.stringify(items.map((item) => commitItem(item.userId, item.imageId, item.reservationId)))]
	};
}

const reserveSql = (id: string, userId: string, guildId: string | null, credits: number) => ({
	text: `SELECT imagine_reserve($1::text, $2::text, $3::text, 2048::bigint, 1, false, false, $4::text, $5::bigint, $6::bigint, $7::bigint,
		$8::text, 1000::bigint, 1000, 1000::bigint, 1e12::bigint, 1e12::bigint, 1e12::bigint, 1e12::bigint, 1e12::bigint) AS outcome`,
	values: [id, userId, DAY, guildId, credits, NOW, NOW + 600_000, 'abcd1234']
});

describe.skipIf(postgresUnavailable)(`the PostgreSQL ledger's lock order${postgresSkipNote}`, () => {
	it('a batch of images recorded by reconcile for two users and an admission of one of them: both complete', async () => {
		const { ledger, session } = await setUp();
		// The users' rows exist, as they do once they have images.
		for (const [index, userId] of [USER_A, USER_B].entries()) {
			const id = `seed${index}`;
			await ledger.reserve(reservationRow(userId, { id, bytes: 10, guildId: GUILD }), LIMITS);
			await ledger.release(id);
		}
		const [holder, admission, batch, watcher] = [await session(), await session(), await session(), await session()];
		await holder.query('BEGIN');
		await holder.query('SELECT 1 FROM imagine_guild_daily WHERE guild_id = $1 FOR UPDATE', [GUILD]);
		// The admission takes USER_B's day and totals, then waits for the server's day.
		const admitted = admission.query(reserveSql('r-batch', USER_B, GUILD, 0));
		await blocked(watcher, admission);
		// The batch records an image for each user: it must not take the global totals before USER_B's.
		const recorded = batch.query(
			`INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata)
			VALUES ($1, 'aaaaaaaaaaaaaaa1', false, 'png', 100, $3, 'a', '{}'), ($2, 'aaaaaaaaaaaaaaa2', false, 'png', 100, $3, 'b', '{}')`,
			[USER_A, USER_B, NOW]
		);
		await blocked(watcher, batch);
		await holder.query('COMMIT');
		await expect(admitted).resolves.toMatchObject({ rows: [{ outcome: 'ok' }] });
		await expect(recorded).resolves.toMatchObject({ rowCount: 2 });
		expect((await ledger.usage(USER_B, DAY, NOW)).userBytes).toBe(100);
	});

	it("a refund of a server's credits and an admission in that server: both complete, and the refund is applied", async () => {
		const { ledger, session } = await setUp();
		const file = {
			imageId: 'bbbbbbbbbbbbbbb1',
			userId: USER_A,
			temp: false,
			ext: 'png' as const,
			bytes: 100,
			createdAt: NOW,
			name: 'x',
			metadata: '{}'
		};
		await ledger.reserve(reservationRow(USER_A, { id: 'r0', guildId: GUILD, credits: 2500 }), LIMITS);
		await ledger.commit(file, { reservationId: 'r0', day: DAY, cost: 1, guildId: GUILD, credits: 2500 }, LIMITS);
		const [holder, admission, watcher] = [await session(), await session(), await session()];
		await holder.query('BEGIN');
		await holder.query("SELECT 1 FROM imagine_credit_daily WHERE scope = 'global' AND day = $1 FOR UPDATE", [DAY]);
		const refunded = ledger.refundDaily(USER_A, DAY, 1, GUILD, 2500);
		await new Promise((resolve) => setTimeout(resolve, 100));
		const admitted = admission.query(reserveSql('r1', USER_A, GUILD, 2500));
		await blocked(watcher, admission);
		await holder.query('COMMIT');
		await expect(refunded).resolves.toBeUndefined();
		await expect(admitted).resolves.toMatchObject({ rows: [{ outcome: 'ok' }] });
		expect(await ledger.creditUsage(DAY, NOW, USER_A, GUILD)).toMatchObject({
			guildSpent: 0,
			userSpent: 0,
			globalSpent: 0,
			guildReserved: 2500
		});
	});

	it("a job's start and its release at the same moment: both complete", async () => {
		const { ledger, session } = await setUp();
		const job = reservationRow(USER_A, { id: 'j1', job: true });
		expect(await ledger.reserve(job, LIMITS)).toEqual({ ok: true });
		const [holder, release, start, watcher] = [await session(), await session(), await session(), await session()];
		await holder.query('BEGIN');
		await holder.query('SELECT 1 FROM imagine_daily WHERE user_id = $1 AND day = $2 FOR UPDATE', [USER_A, DAY]);
		// The release holds the reservation row and waits for the user's day; the start must wait for the reservation first.
		const released = release.query('DELETE FROM imagine_reservations WHERE id = $1', ['j1']);
		await blocked(watcher, release);
		const started = start.query('SELECT imagine_start_job($1, $2, 2, $3) AS place', ['j1', USER_A, NOW]);
		await blocked(watcher, start);
		await holder.query('COMMIT');
		await expect(released).resolves.toMatchObject({ rowCount: 1 });
		await expect(started).resolves.toMatchObject({ rows: [{ place: 0 }] });
		expect((await ledger.usage(USER_A, DAY, NOW)).dailyPending).toBe(0);
	});
	it('a batch of commits and a purge of the reservations they end: both complete, every counter right', async () => {
		const { test, ledger, session } = await setUp();
		const purger = await patientLedger(test);
		const USER_C = '300000000000000003';
		// Ids sort r1 < r15 < r2; expiry and the table's own order (as inserted) both give r2, r15, r1: a purge that does
		// not sort meets them so, against a batch that takes r1 then r2.
		for (const [id, userId, expiresIn] of [
			['r2', USER_B, 10_000],
			['r15', USER_C, 15_000],
			['r1', USER_A, 20_000]
		] as const) {
			expect(await ledger.reserve(reservationRow(userId, { id, expiresAt: NOW + expiresIn }), LIMITS)).toEqual({ ok: true });
		}
		const [holder, batch, watcher] = [await session(), await session(), await session()];
		await holder.query('BEGIN');
		await holder.query("SELECT 1 FROM imagine_reservations WHERE id = 'r15' FOR UPDATE");
		const purged = purger.purgeReservations(NOW + 30_000, []);
		await blockedOn(watcher, 'imagine_reservations');
		const committed = batch.query(
			commitBatchSql([
				{ userId: USER_A, imageId: 'ccccccccccccccc1', reservationId: 'r1' },
				{ userId: USER_B, imageId: 'ccccccccccccccc2', reservationId: 'r2' }
			])
		);
		await blocked(watcher, batch);
		await holder.query('COMMIT');
		await expect(committed).resolves.toBeDefined();
		await expect(purged).resolves.toBe(3);
		expect(await counterMismatches(test)).toEqual([]);
	});

	it("reconcile's images recorded in a batch and a batch of commits meeting on their keys: both complete", async () => {
		const { test, ledger, session } = await setUp();
		const reconciler = await patientLedger(test);
		const [a, b, m] = ['100000000000000001', '200000000000000002', '300000000000000003'];
		for (const [id, userId] of [
			['ra', a],
			['rb', b]
		] as const) {
			expect(await ledger.reserve(reservationRow(userId, { id }), LIMITS)).toEqual({ ok: true });
		}
		const [holder, batch, watcher] = [await session(), await session(), await session()];
		const file = (userId: string, imageId: string) => ({
			userId,
			imageId,
			temp: false,
			ext: 'png' as const,
			bytes: 100,
			createdAt: NOW,
			name: imageId,
			metadata: '{}'
		});
		// A third image, being inserted by a session still open: reconcile waits for it in the middle of its batch.
		await holder.query('BEGIN');
		await holder.query(
			`INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata)
			VALUES ($1, 'wwwwwwwwwwwwwww1', false, 'png', 100, $2, 'w', '{}')`,
			[m, NOW]
		);
		// Given out of key order, as a store may list them.
		const corrected = reconciler.applyCorrections(
			[],
			[file(b, 'zzzzzzzzzzzzzzz1'), file(m, 'wwwwwwwwwwwwwww1'), file(a, 'yyyyyyyyyyyyyyy1')]
		);
		await blockedOn(watcher, 'INSERT INTO imagine_files');
		const committed = batch.query(
			commitBatchSql([
				{ userId: a, imageId: 'yyyyyyyyyyyyyyy1', reservationId: 'ra' },
				{ userId: b, imageId: 'zzzzzzzzzzzzzzz1', reservationId: 'rb' }
			])
		);
		await blocked(watcher, batch);
		await holder.query('COMMIT');
		await expect(committed).resolves.toBeDefined();
		await expect(corrected).resolves.toBeDefined();
		expect(await counterMismatches(test)).toEqual([]);
	});
});
