import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import type {
	AdmissionOutcome,
	BlocklistRow,
	BlockRow,
	CreditDayCount,
	CreditUsage,
	GateExpectation,
	GuildSettingsChange,
	GuildSettingsRow,
	CommitCharge,
	DailyCount,
	GuildDailyCount,
	FileKey,
	FileRow,
	InstanceRow,
	LedgerLimits,
	JobStart,
	LimitOverride,
	QuotaLedger,
	RatePlaceClaim,
	ReservationRow,
	UsageSnapshot,
	UserTotal
} from '../QuotaLedger.js';
import { AdmissionBatcher } from './AdmissionBatcher.js';
import { migratePostgres } from './schema.js';
import { changedGuildColumns, expectedGateValue, guildColumnValues, idList } from '../guildSettingsColumns.js';
import { creditUsageOf, usageSnapshotOf } from '../usageSnapshot.js';

export interface PostgresLedgerOptions {
	/** Connections this process keeps at most (32 processes x 2 stay far below PostgreSQL's default 100). */
	poolSize: number;
	/** TLS options for the connection (CA, client certificate...), passed to node-postgres as `ssl`. */
	tls?: ConnectionOptions | boolean;
	/** How long to wait for a free connection or a new one before failing, in ms. */
	connectTimeoutMs: number;
}

/** Overrides are read on every reservation; other processes' changes are picked up within this time. */
const OVERRIDE_CACHE_MS = 2000;
/** Reconcile writes this many rows per statement. */
const RECONCILE_BATCH = 500;
/** A failed call is tried once more after this pause when the connection itself failed (the pool reconnects). */
const RECONNECT_PAUSE_MS = 250;
/**
 * What live reservations hold, recomputed from their rows onto each counter that differs (schema 5's `held`
 * columns), in the lock order: the users' days, the users' totals, the servers' days, the global totals, the credit
 * days. Counters of rows with no reservation left go back to 0.
 */
const HELD_REPAIRS = [
	`UPDATE imagine_daily d SET held = a.held FROM (
		SELECT d2.user_id, d2.day, COALESCE(SUM(r.cost), 0) AS held FROM imagine_daily d2
		LEFT JOIN imagine_reservations r ON r.user_id = d2.user_id AND r.day = d2.day GROUP BY d2.user_id, d2.day
	) a WHERE d.user_id = a.user_id AND d.day = a.day AND d.held <> a.held`,
	`UPDATE imagine_totals t SET held_bytes = a.bytes, jobs = a.jobs FROM (
		SELECT t2.scope, COALESCE(SUM(r.bytes) FILTER (WHERE NOT r.temp), 0) AS bytes, COUNT(r.id) FILTER (WHERE r.job) AS jobs
		FROM imagine_totals t2 LEFT JOIN imagine_reservations r ON 'u:' || r.user_id = t2.scope WHERE t2.scope LIKE 'u:%' GROUP BY t2.scope
	) a WHERE t.scope = a.scope AND (t.held_bytes <> a.bytes OR t.jobs <> a.jobs)`,
	`UPDATE imagine_guild_daily g SET held = a.held FROM (
		SELECT g2.guild_id, g2.day, COALESCE(SUM(r.cost), 0) AS held FROM imagine_guild_daily g2
		LEFT JOIN imagine_reservations r ON r.guild_id = g2.guild_id AND r.day = g2.day GROUP BY g2.guild_id, g2.day
	) a WHERE g.guild_id = a.guild_id AND g.day = a.day AND g.held <> a.held`,
	`UPDATE imagine_totals SET held_bytes = a.bytes FROM (SELECT COALESCE(SUM(bytes), 0) AS bytes FROM imagine_reservations) a
	WHERE scope = 'global' AND held_bytes <> a.bytes`,
	`UPDATE imagine_credit_daily c SET held = a.held FROM (
		SELECT c2.scope, c2.day, COALESCE(SUM(r.credits), 0) AS held FROM imagine_credit_daily c2
		LEFT JOIN imagine_reservations r ON r.day = c2.day AND (c2.scope = 'global' OR c2.scope = 'u:' || r.user_id OR c2.scope = 'g:' || r.guild_id)
		GROUP BY c2.scope, c2.day
	) a WHERE c.scope = a.scope AND c.day = a.day AND c.held <> a.held`
];

/** The SQLSTATE the admission functions raise a refusal with (the limit is the message). */
const REFUSED = 'IMQ01';
/** Admissions sent in one call at most (batchAdmissions.ts): a bound on one transaction's statement and locks. */
const MAX_BATCH = 64;
/** raise_exception: an admission function refused its input (a charge that is not its reservation's). */
const RAISED = 'P0001';
/** deadlock_detected: PostgreSQL ended one of two statements waiting for each other's rows. */
const DEADLOCK = '40P01';
/** How many times in a row a statement ended by a deadlock is sent again. */
const DEADLOCK_RETRIES = 3;
const POSTGRES_INTEGER_MAX = 2_147_483_647;

/** Errors meaning the connection, not the statement, failed: safe to try again on a fresh connection. */
const CONNECTION_ERRORS = new Set([
	'ECONNRESET',
	'ECONNREFUSED',
	'EPIPE',
	'ETIMEDOUT',
	'57P01',
	'57P02',
	'57P03',
	'08000',
	'08003',
	'08006'
]);

/**
 * The ledger on a PostgreSQL server, shared by every host of a bot. Same tables, limits and one-call admissions
 * as the SQLite ledger; where PostgreSQL's snapshots would let two admissions see the same sums, each admission
 * counts on rows it locks (see schema.ts, version 5); admissions that arrive while every connection is busy leave
 * together as one call (AdmissionBatcher.ts, batchAdmissions.ts). A small pool per process; a lost connection fails
 * the call (the storage turns it into an `IO` value, never a wrong denial) and the pool reconnects by itself. Every
 * call that may be retried is idempotent (reservations and images by their ids), so a retry after a connection lost
 * mid-call, or after a deadlock, never charges twice.
 */
export class PostgresLedger implements QuotaLedger {
	public readonly kind = 'postgres';
	public readonly location: string;
	public readonly foundVersion: number;
	readonly #pool: pg.Pool;
	readonly #pg: typeof pg;
	readonly #connectionString: string;
	readonly #options: PostgresLedgerOptions;
	readonly #overrideCache = new Map<string, { value: LimitOverride | null; until: number }>();
	readonly #admissions: AdmissionBatcher<AdmissionFunction, AdmissionItem>;

	private constructor(driver: typeof pg, pool: pg.Pool, uri: string, options: PostgresLedgerOptions, foundVersion: number) {
		this.#pg = driver;
		this.#pool = pool;
		this.#connectionString = uri;
		this.#options = options;
		this.location = describePostgresUri(uri);
		this.foundVersion = foundVersion;
		this.#admissions = new AdmissionBatcher<AdmissionFunction, AdmissionItem>({
			send: async (name, items) => {
				await this.#query({ name, text: `SELECT ${name}($1::jsonb)` }, [JSON.stringify(items)]);
			},
			isItemFailure,
			maxInFlight: options.poolSize,
			maxItems: MAX_BATCH
		});
	}

	public static async open(driver: typeof pg, uri: string, options: PostgresLedgerOptions): Promise<PostgresLedger> {
		const pool = new driver.Pool({
			connectionString: uri,
			max: options.poolSize,
			idleTimeoutMillis: 30_000,
			connectionTimeoutMillis: options.connectTimeoutMs,
			...(options.tls === undefined ? {} : { ssl: options.tls })
		});
		// An idle connection that dies (a server restart) is reported here; without a listener it would crash the process.
		pool.on('error', () => undefined);
		let foundVersion: number;
		try {
			const client = await pool.connect();
			try {
				foundVersion = await migratePostgres(client);
			} finally {
				client.release();
			}
		} catch (error) {
			await pool.end().catch(() => undefined);
			throw error;
		}
		return new PostgresLedger(driver, pool, uri, options, foundVersion);
	}

	public async reserve(row: ReservationRow, limits: LedgerLimits): Promise<AdmissionOutcome> {
		return admission(
			this.#admissions.run(
				'imagine_reserve_many',
				finite({
					id: row.id,
					user_id: row.userId,
					day: row.day,
					bytes: row.bytes,
					cost: row.cost,
					temp: row.temp,
					job: row.job,
					guild_id: row.guildId,
					credits: row.credits,
					now: row.now,
					expires_at: row.expiresAt,
					owner: row.owner,
					job_limit: limits.jobs,
					daily_limit: countable(limits.dailyGens),
					guild_limit: limits.guildDailyGens,
					user_limit: limits.userBytes,
					global_limit: limits.globalBytes,
					global_credits: limits.globalCredits,
					user_credits: limits.userCredits,
					guild_credits: limits.guildCredits
				})
			)
		);
	}

	public async commit(file: FileRow, charge: CommitCharge, limits: LedgerLimits): Promise<AdmissionOutcome> {
		return admission(
			this.#admissions.run(
				'imagine_commit_many',
				finite({
					user_id: file.userId,
					image_id: file.imageId,
					temp: file.temp,
					ext: file.ext,
					bytes: file.bytes,
					created_at: file.createdAt,
					name: file.name,
					metadata: file.metadata,
					reservation_id: charge.reservationId,
					charge_day: charge.day,
					charge_cost: charge.cost,
					charge_guild: charge.guildId,
					charge_credits: charge.credits,
					user_limit: limits.userBytes,
					global_limit: limits.globalBytes
				})
			)
		);
	}

	public async startJob(reservationId: string, userId: string, maxRunning: number, now: number): Promise<JobStart> {
		const [row] = await this.#query<{ place: number }>('SELECT imagine_start_job($1, $2, $3, $4) AS place', [
			reservationId,
			userId,
			maxRunning,
			now
		]);
		const place = Number(row?.place ?? 0);
		return place === 0 ? { started: true } : { started: false, position: place };
	}

	public async release(reservationId: string): Promise<boolean> {
		return (
			(await this.#query({ name: 'imagine_release', text: 'DELETE FROM imagine_reservations WHERE id = $1 RETURNING id' }, [reservationId]))
				.length > 0
		);
	}

	public async usage(userId: string, day: string, now: number): Promise<UsageSnapshot> {
		const [row] = await this.#query<Record<string, string | null>>(
			{
				name: 'imagine_usage_v5',
				// The counters, less what expired reservations still hold in them (schema 5).
				text: `SELECT g.bytes AS "globalBytes", g.files AS "globalFiles", t.bytes AS "tempBytes", t.files AS "tempFiles",
					u.bytes AS "userBytes", u.files AS "userFiles", d.used AS "dailyUsed", COALESCE(d.held, 0) - l.daily AS "dailyPending",
					g.held_bytes - l.global_bytes AS "reservedGlobalBytes", COALESCE(u.held_bytes, 0) - l.user_bytes AS "reservedUserBytes"
				FROM imagine_lapsed($1, NULL, $2, $3) l
				LEFT JOIN imagine_totals g ON g.scope = 'global'
				LEFT JOIN imagine_totals t ON t.scope = 'temp'
				LEFT JOIN imagine_totals u ON u.scope = 'u:' || $1
				LEFT JOIN imagine_daily d ON d.user_id = $1 AND d.day = $2`
			},
			[userId, day, now]
		);
		return usageSnapshotOf(row);
	}

	public async getFile(userId: string, imageId: string): Promise<FileRow | null> {
		const [row] = await this.#query<PgFileRow>('SELECT * FROM imagine_files WHERE user_id = $1 AND image_id = $2', [userId, imageId]);
		return row ? toFileRow(row) : null;
	}

	public async listFiles(userId: string): Promise<FileRow[]> {
		return (
			await this.#query<PgFileRow>('SELECT * FROM imagine_files WHERE user_id = $1 AND NOT temp ORDER BY image_id DESC', [userId])
		).map(toFileRow);
	}

	public async removeFile(userId: string, imageId: string): Promise<FileRow | null> {
		const [row] = await this.#query<PgFileRow>('DELETE FROM imagine_files WHERE user_id = $1 AND image_id = $2 RETURNING *', [
			userId,
			imageId
		]);
		return row ? toFileRow(row) : null;
	}

	public async tempFilesOlderThan(createdBefore: number): Promise<FileRow[]> {
		return (
			await this.#query<PgFileRow>('SELECT * FROM imagine_files WHERE temp AND created_at < $1 ORDER BY created_at', [createdBefore])
		).map(toFileRow);
	}

	public async topUsers(limit: number): Promise<UserTotal[]> {
		const rows = await this.#query<{ userId: string; bytes: string; files: string }>(
			`SELECT substr(scope, 3) AS "userId", bytes, files FROM imagine_totals WHERE scope LIKE 'u:%' AND files > 0 ORDER BY bytes DESC LIMIT $1`,
			[limit]
		);
		return rows.map((row) => ({ userId: row.userId, bytes: Number(row.bytes), files: Number(row.files) }));
	}

	public async allFiles(): Promise<FileRow[]> {
		const rows = await this.#query<PgFileRow>(
			'SELECT user_id, image_id, temp, ext, bytes, created_at, name, NULL AS metadata FROM imagine_files'
		);
		return rows.map(toFileRow);
	}

	public async applyCorrections(
		remove: readonly FileKey[],
		add: readonly FileRow[]
	): Promise<{ removed: Set<string>; added: Set<string> }> {
		const removed = new Set<string>();
		const added = new Set<string>();
		for (let start = 0; start < remove.length; start += RECONCILE_BATCH) {
			const batch = remove.slice(start, start + RECONCILE_BATCH);
			const rows = await this.#query<{ image_id: string }>(
				`DELETE FROM imagine_files f USING unnest($1::text[], $2::text[]) AS d(user_id, image_id)
				WHERE f.user_id = d.user_id AND f.image_id = d.image_id RETURNING f.image_id`,
				[batch.map((row) => row.userId), batch.map((row) => row.imageId)]
			);
			for (const row of rows) removed.add(row.image_id);
		}
		for (let start = 0; start < add.length; start += RECONCILE_BATCH) {
			const batch = add.slice(start, start + RECONCILE_BATCH);
			// A row rebuilt from the store charges nothing: its generation was counted (or not) when it was made. Rows go
			// in key order, as a batch of commits inserts its own (two inserts meeting on a key wait for each other).
			const rows = await this.#query<{ image_id: string }>(
				`INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata)
				SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[])
				ORDER BY 1, 2
				ON CONFLICT (user_id, image_id) DO NOTHING RETURNING image_id`,
				[
					batch.map((row) => row.userId),
					batch.map((row) => row.imageId),
					batch.map((row) => row.temp),
					batch.map((row) => row.ext),
					batch.map((row) => row.bytes),
					batch.map((row) => row.createdAt),
					batch.map((row) => row.name),
					batch.map((row) => row.metadata)
				]
			);
			for (const row of rows) added.add(row.image_id);
		}
		return { removed, added };
	}

	/**
	 * Recomputes the stored totals from the file rows and what live reservations hold from the reservation rows, with
	 * both tables locked against writes: a commit or an admission landing between the sums and the write would
	 * otherwise be overwritten by a figure computed without it. Returns how many rows were wrong.
	 */
	public async rebuildTotals(): Promise<number> {
		return this.#transaction(async (client) => {
			// No image is recorded or removed, and no reservation made or ended, until this transaction ends (a reconcile
			// holds admissions back for as long as the sums take).
			await client.query('LOCK TABLE imagine_files IN SHARE MODE');
			await client.query('LOCK TABLE imagine_reservations IN SHARE MODE');
			// The totals rows in the lock order (the users', then the global and 'temp' ones) before any is written.
			await client.query(
				"SELECT 1 FROM imagine_totals ORDER BY CASE scope WHEN 'global' THEN 1 WHEN 'temp' THEN 2 ELSE 0 END, scope FOR UPDATE"
			);
			const wrong = await client.query(
				`WITH actual AS (
					SELECT 'global' AS scope, COALESCE(SUM(bytes), 0)::BIGINT AS bytes, COUNT(*)::BIGINT AS files FROM imagine_files
					UNION ALL SELECT 'temp', COALESCE(SUM(bytes), 0)::BIGINT, COUNT(*)::BIGINT FROM imagine_files WHERE temp
					UNION ALL SELECT 'u:' || user_id, SUM(bytes)::BIGINT, COUNT(*)::BIGINT FROM imagine_files WHERE NOT temp GROUP BY user_id
				)
				INSERT INTO imagine_totals (scope, bytes, files)
				SELECT a.scope, a.bytes, a.files FROM actual a LEFT JOIN imagine_totals t ON t.scope = a.scope
				WHERE (t.scope IS NULL AND (a.bytes <> 0 OR a.files <> 0)) OR t.bytes <> a.bytes OR t.files <> a.files
				ON CONFLICT (scope) DO UPDATE SET bytes = EXCLUDED.bytes, files = EXCLUDED.files
				RETURNING scope`
			);
			// Zeroed, not deleted: the row also holds what the user's live reservations hold.
			const stale = await client.query(
				`UPDATE imagine_totals SET bytes = 0, files = 0 WHERE scope LIKE 'u:%' AND (files <> 0 OR bytes <> 0)
					AND substr(scope, 3) NOT IN (SELECT user_id FROM imagine_files WHERE NOT temp)
				RETURNING scope`
			);
			let fixed = (wrong.rowCount ?? 0) + (stale.rowCount ?? 0);
			for (const repair of HELD_REPAIRS) fixed += (await client.query(repair)).rowCount ?? 0;
			return fixed;
		});
	}

	public async reservationOwners(): Promise<string[]> {
		return (await this.#query<{ owner: string }>('SELECT DISTINCT owner FROM imagine_reservations')).map((row) => row.owner);
	}

	public async purgeReservations(now: number, deadOwners: readonly string[]): Promise<number> {
		const expired = await this.#deleteReservations('expires_at <= $1', [now]);
		const dead = deadOwners.length === 0 ? [] : await this.#deleteReservations('owner = ANY($1::text[])', [deadOwners]);
		return expired.length + dead.length;
	}

	/**
	 * Deletes the reservations a condition selects, locked in id order first, the order a batch of commits takes them
	 * in: a DELETE alone takes rows in whatever order it meets them, and two statements ending several reservations
	 * each could wait for each other.
	 */
	#deleteReservations(condition: string, values: unknown[]): Promise<Record<string, unknown>[]> {
		return this.#query(
			`WITH ending AS MATERIALIZED (SELECT id FROM imagine_reservations WHERE ${condition} ORDER BY id FOR UPDATE)
			DELETE FROM imagine_reservations r USING ending WHERE r.id = ending.id RETURNING r.id`,
			values
		);
	}

	public async restoreDaily(counts: readonly DailyCount[]): Promise<void> {
		if (counts.length === 0) return;
		await this.#query(
			`INSERT INTO imagine_daily (user_id, day, used) SELECT * FROM unnest($1::text[], $2::text[], $3::integer[]) ORDER BY 1, 2
			ON CONFLICT (user_id, day) DO UPDATE SET used = GREATEST(imagine_daily.used, EXCLUDED.used)`,
			[counts.map((count) => count.userId), counts.map((count) => count.day), counts.map((count) => count.used)]
		);
	}

	public async restoreCharges(guildDaily: readonly GuildDailyCount[], creditDays: readonly CreditDayCount[]): Promise<void> {
		if (guildDaily.length > 0) {
			await this.#query(
				`INSERT INTO imagine_guild_daily AS g (guild_id, day, used) SELECT * FROM unnest($1::text[], $2::text[], $3::integer[]) ORDER BY 1, 2
				ON CONFLICT (guild_id, day) DO UPDATE SET used = GREATEST(g.used, EXCLUDED.used)`,
				[guildDaily.map((count) => count.guildId), guildDaily.map((count) => count.day), guildDaily.map((count) => count.used)]
			);
		}
		if (creditDays.length > 0) {
			await this.#query(
				`INSERT INTO imagine_credit_daily AS c (scope, day, spent, generations)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[]) AS r(scope, day, spent, generations)
				ORDER BY CASE WHEN scope LIKE 'u:%' THEN 1 WHEN scope LIKE 'g:%' THEN 2 ELSE 3 END, scope, day
				ON CONFLICT (scope, day) DO UPDATE SET spent = GREATEST(c.spent, EXCLUDED.spent), generations = GREATEST(c.generations, EXCLUDED.generations)`,
				[
					creditDays.map((row) => row.scope),
					creditDays.map((row) => row.day),
					creditDays.map((row) => row.spent),
					creditDays.map((row) => row.generations)
				]
			);
		}
	}

	public async pruneDaily(beforeDay: string): Promise<void> {
		// A day whose reservations still run keeps its row: they are taken off it when they end.
		await this.#query('DELETE FROM imagine_daily WHERE day < $1 AND held = 0', [beforeDay]);
	}

	public async resetDaily(userId: string, day: string): Promise<number> {
		// Only the count goes back to 0: what running jobs hold stays on the row until they end.
		const [row] = await this.#query<{ used: number }>(
			`UPDATE imagine_daily d SET used = 0 FROM (SELECT used FROM imagine_daily WHERE user_id = $1 AND day = $2 FOR UPDATE) before
			WHERE d.user_id = $1 AND d.day = $2 RETURNING before.used`,
			[userId, day]
		);
		return Number(row?.used ?? 0);
	}

	public async refundDaily(userId: string, day: string, cost: number, guildId?: string | null, credits = 0): Promise<void> {
		// Not idempotent: never retried (a refund applied twice would give a generation away). One row per statement, so
		// a refund never holds one counter row while it waits for another (no deadlock with an admission).
		if (credits > 0 || cost > 0) {
			for (const scope of [`u:${userId}`, ...(guildId ? [`g:${guildId}`] : []), 'global']) {
				await this.#query(
					`UPDATE imagine_credit_daily SET spent = GREATEST(0, spent - $1), generations = GREATEST(0, generations - $2)
					WHERE scope = $3 AND day = $4`,
					[credits, cost, scope, day],
					false
				);
			}
		}
		if (cost <= 0) return;
		await this.#query('UPDATE imagine_daily SET used = GREATEST(0, used - $1) WHERE user_id = $2 AND day = $3', [cost, userId, day], false);
		if (!guildId) return;
		await this.#query(
			'UPDATE imagine_guild_daily SET used = GREATEST(0, used - $1) WHERE guild_id = $2 AND day = $3',
			[cost, guildId, day],
			false
		);
	}

	public async creditUsage(day: string, now: number, userId = '', guildId = ''): Promise<CreditUsage> {
		const [row] = await this.#query<Record<string, string>>(
			`SELECT g.spent AS "globalSpent", COALESCE(g.held, 0) - l.global_credits AS "globalReserved",
				u.spent AS "userSpent", COALESCE(u.held, 0) - l.user_credits AS "userReserved",
				s.spent AS "guildSpent", COALESCE(s.held, 0) - l.guild_credits AS "guildReserved"
			FROM imagine_lapsed($3, $4, $1, $2) l
			LEFT JOIN imagine_credit_daily g ON g.scope = 'global' AND g.day = $1
			LEFT JOIN imagine_credit_daily u ON u.scope = 'u:' || $3 AND u.day = $1
			LEFT JOIN imagine_credit_daily s ON s.scope = 'g:' || $4 AND s.day = $1`,
			[day, now, userId, guildId]
		);
		return creditUsageOf(row);
	}

	public async creditHistory(fromDay: string): Promise<{ day: string; spent: number; generations: number }[]> {
		const rows = await this.#query<{ day: string; spent: string; generations: number }>(
			"SELECT day, spent, generations FROM imagine_credit_daily WHERE scope = 'global' AND day >= $1 ORDER BY day",
			[fromDay]
		);
		return rows.map((row) => ({ day: row.day, spent: Number(row.spent), generations: Number(row.generations) }));
	}

	public async creditBudget(scope: string): Promise<number | null> {
		const [row] = await this.#query<{ milli: string }>('SELECT milli FROM imagine_credit_budgets WHERE scope = $1', [scope]);
		return row ? Number(row.milli) : null;
	}

	public async setCreditBudget(scope: string, milli: number | null): Promise<void> {
		if (milli === null) await this.#query('DELETE FROM imagine_credit_budgets WHERE scope = $1', [scope]);
		else
			await this.#query(
				'INSERT INTO imagine_credit_budgets (scope, milli) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET milli = EXCLUDED.milli',
				[scope, milli]
			);
	}

	public async guildDailyUsed(guildId: string, day: string, now: number): Promise<number> {
		const [row] = await this.#query<{ used: string }>(
			`SELECT COALESCE(d.used + d.held, 0) - l.guild_daily AS used
			FROM imagine_lapsed('', $1, $2, $3) l LEFT JOIN imagine_guild_daily d ON d.guild_id = $1 AND d.day = $2`,
			[guildId, day, now]
		);
		return Number(row?.used ?? 0);
	}

	public async getOverride(userId: string, now: number): Promise<LimitOverride | null> {
		const cached = this.#overrideCache.get(userId);
		if (cached && cached.until > now) return cached.value;
		const [row] = await this.#query<{ daily_gens: number | null; storage_mb: number | null }>(
			'SELECT daily_gens, storage_mb FROM imagine_overrides WHERE user_id = $1',
			[userId]
		);
		const value = row ? toOverride(row.daily_gens, row.storage_mb) : null;
		this.#overrideCache.set(userId, { value, until: now + OVERRIDE_CACHE_MS });
		return value;
	}

	public async setOverride(userId: string, changes: LimitOverride | null): Promise<LimitOverride | null> {
		this.#overrideCache.delete(userId);
		if (changes === null) {
			await this.#query('DELETE FROM imagine_overrides WHERE user_id = $1', [userId]);
			return null;
		}
		if (changes.dailyGens === undefined && changes.storageMb === undefined) return this.getOverride(userId, Number.NEGATIVE_INFINITY);
		const [row] = await this.#query<{ daily_gens: number | null; storage_mb: number | null }>(
			`INSERT INTO imagine_overrides (user_id, daily_gens, storage_mb) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET
				daily_gens = COALESCE(EXCLUDED.daily_gens, imagine_overrides.daily_gens),
				storage_mb = COALESCE(EXCLUDED.storage_mb, imagine_overrides.storage_mb)
			RETURNING daily_gens, storage_mb`,
			[userId, changes.dailyGens === undefined ? null : countable(changes.dailyGens), changes.storageMb ?? null]
		);
		return row ? toOverride(row.daily_gens, row.storage_mb) : null;
	}

	public async claimRatePlace(place: RatePlaceClaim): Promise<number | null> {
		const [row] = await this.#query<{ wait: string | null }>('SELECT imagine_claim_rate_place($1, $2, $3, $4, $5) AS wait', [
			place.id,
			place.key,
			place.limit,
			place.windowMs,
			place.maxHoldMs
		]);
		return row?.wait === null || row?.wait === undefined ? null : Number(row.wait);
	}

	public async endRatePlace(placeId: string, windowMs: number): Promise<void> {
		await this.#query('UPDATE imagine_rate_places SET frees_at = imagine_now_ms() + $2 WHERE id = $1', [placeId, windowMs]);
	}

	public async blocklist(guildIds: readonly string[]): Promise<BlocklistRow[]> {
		if (guildIds.length === 0) return [];
		const rows = await this.#query<{ guild_id: string; entry: string; added_at: string }>(
			'SELECT guild_id, entry, added_at FROM imagine_blocklist WHERE guild_id = ANY($1::text[]) ORDER BY added_at, entry',
			[guildIds]
		);
		return rows.map((row) => ({ guildId: row.guild_id, entry: row.entry, addedAt: Number(row.added_at) }));
	}

	/** One statement for the whole change: each entry lands once, whoever else edits the list at the same moment. */
	public async addToBlocklist(guildId: string, entries: readonly string[], now: number): Promise<string[]> {
		if (entries.length === 0) return [];
		const rows = await this.#query<{ entry: string }>(
			`INSERT INTO imagine_blocklist (guild_id, entry, added_at) SELECT $1, entry, $3 FROM unnest($2::text[]) AS entry
			ON CONFLICT DO NOTHING RETURNING entry`,
			[guildId, [...new Set(entries)], now]
		);
		return rows.map((row) => row.entry);
	}

	public async removeFromBlocklist(guildId: string, entries: readonly string[]): Promise<string[]> {
		if (entries.length === 0) return [];
		const rows = await this.#query<{ entry: string }>(
			'DELETE FROM imagine_blocklist WHERE guild_id = $1 AND entry = ANY($2::text[]) RETURNING entry',
			[guildId, [...new Set(entries)]]
		);
		return rows.map((row) => row.entry);
	}

	public async setBlock(block: BlockRow): Promise<void> {
		await this.#query(
			`INSERT INTO imagine_blocks (user_id, guild_id, reason, until, blocked_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, guild_id) DO UPDATE SET reason = EXCLUDED.reason, until = EXCLUDED.until, blocked_at = EXCLUDED.blocked_at`,
			[block.userId, block.guildId, block.reason, block.until, block.blockedAt]
		);
	}

	public async removeBlock(userId: string, guildId: string): Promise<BlockRow | null> {
		const [row] = await this.#query<PgBlockRow>('DELETE FROM imagine_blocks WHERE user_id = $1 AND guild_id = $2 RETURNING *', [
			userId,
			guildId
		]);
		return row ? toBlock(row) : null;
	}

	public async blocksOf(userId: string, guildIds: readonly string[]): Promise<BlockRow[]> {
		if (guildIds.length === 0) return [];
		const rows = await this.#query<PgBlockRow>(
			'SELECT * FROM imagine_blocks WHERE user_id = $1 AND guild_id = ANY($2::text[]) ORDER BY guild_id',
			[userId, guildIds]
		);
		return rows.map(toBlock);
	}

	public async guildSettings(guildId: string): Promise<GuildSettingsRow | null> {
		const [row] = await this.#query<PgGuildRow>('SELECT * FROM imagine_guild_settings WHERE guild_id = $1', [guildId]);
		return row ? toGuildSettings(row) : null;
	}

	public async changeGuildSettings(
		guildId: string,
		changes: GuildSettingsChange,
		expected?: GateExpectation
	): Promise<GuildSettingsRow | null> {
		const updates = changedGuildColumns(changes).map((column) => `${column} = EXCLUDED.${column}`);
		const values = guildColumnValues(changes);
		const flag = (value: number | null) => (value === null ? null : value === 1);
		const condition = expected ? expectedGateValue(expected) : null;
		const [row] = await this.#query<PgGuildRow>(
			`INSERT INTO imagine_guild_settings (guild_id, enabled, channel_ids, role_ids, member_daily_gens, guild_daily_gens, nsfw_lax)
			VALUES ($1, COALESCE($2::boolean, TRUE), $3, $4, $5, $6, COALESCE($7::boolean, FALSE))
			ON CONFLICT (guild_id) DO UPDATE SET ${updates.length > 0 ? updates.join(', ') : 'guild_id = EXCLUDED.guild_id'}
			${condition ? `WHERE imagine_guild_settings.${condition.column} IS NOT DISTINCT FROM $8` : ''}
			RETURNING *`,
			[
				guildId,
				flag(values.enabled),
				values.channels,
				values.roles,
				values.memberDaily,
				values.guildDaily,
				flag(values.nsfwLax),
				...(condition ? [condition.value] : [])
			]
		);
		return row ? toGuildSettings(row) : null;
	}

	public async claimStore(storeId: string): Promise<string> {
		const read = async () => (await this.#query<{ value: string }>("SELECT value FROM imagine_meta WHERE key = 'store'"))[0]?.value;
		const claimed = await read();
		if (claimed !== undefined) return claimed;
		await this.#query("INSERT INTO imagine_meta (key, value) VALUES ('store', $1) ON CONFLICT (key) DO NOTHING", [storeId]);
		return String(await read());
	}

	public async verify(): Promise<string | null> {
		// A server's database is not a file that can be deleted under the process.
		return null;
	}

	public async registerInstance(instance: InstanceRow): Promise<void> {
		await this.#query(
			`INSERT INTO imagine_instances (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at`,
			[instance.id, instance.host, instance.pid, instance.startedAt, instance.heartbeatAt]
		);
	}

	public async heartbeatInstance(id: string, now: number): Promise<boolean> {
		return (await this.#query('UPDATE imagine_instances SET heartbeat_at = $2 WHERE id = $1 RETURNING id', [id, now])).length > 0;
	}

	public async removeInstance(id: string): Promise<void> {
		await this.#deleteReservations('owner = $1', [id]);
		await this.#query('DELETE FROM imagine_instances WHERE id = $1', [id]);
	}

	public async instances(): Promise<InstanceRow[]> {
		const rows = await this.#query<{ id: string; host: string; pid: number; started_at: string; heartbeat_at: string }>(
			'SELECT id, host, pid, started_at, heartbeat_at FROM imagine_instances'
		);
		return rows.map((row) => ({
			id: row.id,
			host: row.host,
			pid: row.pid,
			startedAt: Number(row.started_at),
			heartbeatAt: Number(row.heartbeat_at)
		}));
	}

	public async removeInstances(ids: readonly string[]): Promise<void> {
		if (ids.length > 0) await this.#query('DELETE FROM imagine_instances WHERE id = ANY($1::text[])', [ids]);
	}

	/**
	 * Runs `task` while holding a lock that only one process of all hosts can hold (reconcile: one at a time). The
	 * lock is held by a connection of its own, outside the pool, so the task's own queries never wait for it.
	 */
	public async exclusive<T>(purpose: string, task: () => Promise<T>): Promise<T> {
		const client = new this.#pg.Client({
			connectionString: this.#connectionString,
			connectionTimeoutMillis: this.#options.connectTimeoutMs,
			...(this.#options.tls === undefined ? {} : { ssl: this.#options.tls })
		});
		client.on('error', () => undefined);
		await client.connect();
		try {
			await client.query('SELECT pg_advisory_lock(imagine_lock_key($1))', [purpose]);
			return await task();
		} finally {
			await client.end().catch(() => undefined);
		}
	}

	public async close(): Promise<void> {
		await this.#pool.end();
	}

	/**
	 * Runs one statement. The hot ones (every admission and status) are given as `{ name, text }`: each connection
	 * parses and plans them once and then only binds values (a status is a dozen sub-selects, planned anew on every call
	 * otherwise). Only statements whose result columns cannot change are named: a prepared `SELECT *` would fail with
	 * "cached plan must not change result type" once a newer version adds a column.
	 */
	async #query<T extends Record<string, unknown> = Record<string, unknown>>(
		sql: string | { name: string; text: string },
		values: unknown[] = [],
		retry = true
	): Promise<T[]> {
		const run = () => this.#pool.query<T>(typeof sql === 'string' ? { text: sql, values } : { ...sql, values });
		const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
		let deadlocks = 0;
		for (;;) {
			try {
				return (await run()).rows;
			} catch (error) {
				if (!retry) throw error;
				// A deadlock aborts the whole statement, so an idempotent one is simply sent again (see the lock order,
				// schema 5); a lost connection is tried once more, after a pause for the pool to reconnect.
				if (sqlStateOf(error) === DEADLOCK && deadlocks++ < DEADLOCK_RETRIES) {
					await pause(Math.random() * 20);
					continue;
				}
				if (!isConnectionError(error)) throw error;
				await pause(RECONNECT_PAUSE_MS);
				return (await run()).rows;
			}
		}
	}

	async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
		const client = await this.#pool.connect();
		try {
			await client.query('BEGIN');
			const result = await work(client);
			await client.query('COMMIT');
			return result;
		} catch (error) {
			await client.query('ROLLBACK').catch(() => undefined);
			throw error;
		} finally {
			client.release();
		}
	}
}

interface PgFileRow extends Record<string, unknown> {
	user_id: string;
	image_id: string;
	temp: boolean;
	ext: string;
	bytes: string;
	created_at: string;
	name: string;
	metadata: string | null;
}

function toFileRow(row: PgFileRow): FileRow {
	return {
		imageId: row.image_id,
		userId: row.user_id,
		temp: row.temp,
		ext: row.ext,
		bytes: Number(row.bytes),
		createdAt: Number(row.created_at),
		name: row.name,
		metadata: row.metadata
	};
}

/**
 * A daily limit as the schema's INTEGER columns hold it: one above 2^31 - 1 (an owner's way of saying "no limit")
 * can never be reached in a day, so it is the same limit, and it must not make every reservation fail.
 */
function countable(dailyLimit: number): number {
	return Math.min(dailyLimit, POSTGRES_INTEGER_MAX);
}

interface PgGuildRow extends Record<string, unknown> {
	guild_id: string;
	enabled: boolean;
	channel_ids: string | null;
	role_ids: string | null;
	member_daily_gens: number | null;
	guild_daily_gens: number | null;
	nsfw_lax: boolean;
}

function toGuildSettings(row: PgGuildRow): GuildSettingsRow {
	return {
		guildId: row.guild_id,
		enabled: row.enabled,
		channelIds: idList(row.channel_ids),
		roleIds: idList(row.role_ids),
		memberDailyGens: row.member_daily_gens,
		guildDailyGens: row.guild_daily_gens,
		nsfwLax: row.nsfw_lax
	};
}

interface PgBlockRow extends Record<string, unknown> {
	user_id: string;
	guild_id: string;
	reason: string | null;
	until: string | null;
	blocked_at: string;
}

function toBlock(row: PgBlockRow): BlockRow {
	return {
		userId: row.user_id,
		guildId: row.guild_id,
		reason: row.reason,
		until: row.until === null ? null : Number(row.until),
		blockedAt: Number(row.blocked_at)
	};
}

function toOverride(dailyGens: number | null, storageMb: number | null): LimitOverride | null {
	const override: LimitOverride = {
		...(dailyGens === null ? {} : { dailyGens }),
		...(storageMb === null ? {} : { storageMb })
	};
	return override.dailyGens === undefined && override.storageMb === undefined ? null : override;
}

/** The two admission functions of schema 8, each taking a batch. */
type AdmissionFunction = 'imagine_reserve_many' | 'imagine_commit_many';

/** One admission of a batch: its row and limits, in the column names the admission functions read. */
type AdmissionItem = Record<string, string | number | boolean | null>;

/** An admission's answer: 'ok', or the refusal the function raised (IMQ01, the limit as its message). */
async function admission(sent: Promise<void>): Promise<AdmissionOutcome> {
	try {
		await sent;
		return { ok: true };
	} catch (error) {
		if (sqlStateOf(error) !== REFUSED) throw error;
		return refusalOf((error as Error).message);
	}
}

/**
 * An admission as the batch's JSON will carry it. A number JSON cannot carry (NaN, an infinity) would arrive as null,
 * which compares as no limit at all: refused here, for this admission alone, before it joins a batch.
 */
function finite(item: AdmissionItem): AdmissionItem {
	for (const [key, value] of Object.entries(item)) {
		if (typeof value === 'number' && !Number.isFinite(value))
			throw new TypeError(`An admission's ${key} must be a finite number, not ${value}`);
	}
	return item;
}

/**
 * Whether a batch failed because of one of its items (a refusal, a wrong charge, a value out of range), so that each
 * is worth sending alone; a failure of the connection or the server would fail them alone too.
 */
function isItemFailure(error: unknown): boolean {
	const code = sqlStateOf(error);
	return code === REFUSED || code === RAISED || (typeof code === 'string' && (code.startsWith('22') || code.startsWith('23')));
}

/** The limit a refusal names (its message); any other message is not one the admission functions raise. */
function refusalOf(limit: string): AdmissionOutcome {
	if (
		limit === 'TOO_MANY_JOBS' ||
		limit === 'DAILY_LIMIT' ||
		limit === 'GUILD_DAILY' ||
		limit === 'CREDIT_BUDGET' ||
		limit === 'USER_QUOTA' ||
		limit === 'GLOBAL_QUOTA'
	)
		return { ok: false, failed: limit };
	throw new Error(`The ledger answered an unknown admission outcome: ${limit}`);
}

/** The SQLSTATE (or Node's error code) of a failed call, if it has one. */
function sqlStateOf(error: unknown): unknown {
	return (error as { code?: unknown } | null)?.code;
}

function isConnectionError(error: unknown): boolean {
	const code = sqlStateOf(error);
	if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return true;
	return (
		error instanceof Error && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message)
	);
}

/** `postgres://user@host:5432/db`: where the ledger is, without the password (or any query parameter). */
export function describePostgresUri(uri: string): string {
	try {
		const url = new URL(uri);
		return `${url.protocol}//${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}${url.pathname}`;
	} catch {
		return 'postgres://(unreadable address)';
	}
}
