import { KeyvSqlite } from '@keyv/sqlite';
import Keyv from 'keyv';
import { mkdirSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
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
import { COMMIT, COMMIT_CHECKS, FILE_COLUMNS, JOB_PLACE, RESERVE, RESERVE_CHECKS, START_JOB, USAGE } from './admission.js';
import { applyCorrections, purgeReservations, rebuildTotals } from './maintenance.js';
import { changeOverride, readOverride } from './overrides.js';
import {
	addToBlocklist,
	blocksOf,
	changeGuildSettings,
	readBlocklist,
	readGuildSettings,
	removeBlock,
	removeFromBlocklist,
	setBlock
} from './controls.js';
import { StorageConfigError } from '../../StorageConfigError.js';
import { migrate } from './schema.js';
import { SqliteConnection, type SqlRow } from './SqliteConnection.js';
import { creditUsageOf, usageSnapshotOf } from '../usageSnapshot.js';

/** Overrides are read on every reservation; other processes' changes are picked up within this time. */
const OVERRIDE_CACHE_MS = 2000;
/** How soon to ask again for a place when every place of a window is held by a request still in flight. */
const RATE_POLL_MS = 200;
/** Copies of each hot statement, so concurrent requests overlap (see SqliteConnection.prepare). */
const HOT_COPIES = 4;

/**
 * The hot statements are compiled once on the ledger's own connection: compiling a statement costs about
 * as much as running one of these, and Keyv's adapter compiles every call.
 */
function prepareStatements(connection: SqliteConnection) {
	return {
		reserve: connection.prepare(RESERVE, HOT_COPIES),
		reserveChecks: connection.prepare(RESERVE_CHECKS),
		startJob: connection.prepare(START_JOB, HOT_COPIES),
		jobPlace: connection.prepare(JOB_PLACE),
		commit: connection.prepare(COMMIT, HOT_COPIES),
		commitChecks: connection.prepare(COMMIT_CHECKS),
		release: connection.prepare('DELETE FROM imagine_reservations WHERE id = $id RETURNING id', HOT_COPIES),
		usage: connection.prepare(USAGE, HOT_COPIES),
		getFile: connection.prepare('SELECT * FROM imagine_files WHERE user_id = $user AND image_id = $image'),
		listFiles: connection.prepare('SELECT * FROM imagine_files WHERE user_id = $user AND temp = 0 ORDER BY image_id DESC'),
		removeFile: connection.prepare('DELETE FROM imagine_files WHERE user_id = $user AND image_id = $image RETURNING *')
	};
}

/**
 * The embedded ledger: one SQLite file (WAL), shared by every process on the machine. SQLite runs each
 * statement under its write lock, which holds across processes, so each conditional statement here is an atomic
 * admission. Keyv opens the same file for the ledger's plain key-value state.
 */
export class SqliteLedger implements QuotaLedger {
	public readonly kind = 'sqlite';
	public readonly location: string;
	/** The schema version the file had when it was opened (0: it was created now). */
	public readonly foundVersion: number;
	/** Plain key-value state in the ledger's file (read far more than written; nothing here guards a limit). */
	public readonly keyv: Keyv;
	readonly #connection: SqliteConnection;
	readonly #statements: ReturnType<typeof prepareStatements>;
	readonly #overrideCache = new Map<string, { value: LimitOverride | null; until: number }>();
	/** The file this connection has open, to notice it being deleted or replaced under the process. */
	readonly #file: { dev: number; ino: number };

	private constructor(file: string, connection: SqliteConnection, keyv: Keyv, foundVersion: number) {
		this.location = file;
		const { dev, ino } = statSync(file);
		this.#file = { dev, ino };
		this.#connection = connection;
		this.#statements = prepareStatements(connection);
		this.keyv = keyv;
		this.foundVersion = foundVersion;
	}

	/** Opens (and creates or migrates) the ledger behind a `sqlite://` URI. */
	public static async open(uri: string, busyTimeoutMs: number): Promise<SqliteLedger> {
		if (!uri.startsWith('sqlite://')) throw new TypeError(`The SQLite ledger needs a sqlite:// URI (got ${uri.split(':')[0]}:)`);
		const file = uri.slice('sqlite://'.length);
		mkdirSync(dirname(file), { recursive: true });
		let connection: SqliteConnection;
		let foundVersion: number;
		try {
			connection = await SqliteConnection.open(file, busyTimeoutMs);
		} catch (error) {
			throw explainOpenFailure(error, file);
		}
		try {
			foundVersion = await migrate(connection);
			// Durable against process crashes; the stored images rebuild the ledger after a power cut. Per connection.
			await connection.exec('PRAGMA synchronous = NORMAL');
		} catch (error) {
			await connection.close().catch(() => undefined);
			throw explainOpenFailure(error, file);
		}
		const store = new KeyvSqlite({ uri, busyTimeout: busyTimeoutMs });
		store.on('error', () => undefined); // surfaced by the first query instead
		return new SqliteLedger(file, connection, new Keyv({ store, namespace: 'imagine' }), foundVersion);
	}

	public async reserve(row: ReservationRow, limits: LedgerLimits): Promise<AdmissionOutcome> {
		const parameters = {
			id: row.id,
			user: row.userId,
			day: row.day,
			bytes: row.bytes,
			cost: row.cost,
			temp: row.temp,
			job: row.job,
			guild: row.guildId,
			credits: row.credits,
			now: row.now,
			expiresAt: row.expiresAt,
			owner: row.owner,
			...limitParameters(limits)
		};
		for (let attempt = 0; attempt < 3; attempt++) {
			if ((await this.#statements.reserve.all(parameters)).length === 1) return { ok: true };
			const [checks] = await this.#statements.reserveChecks.all(parameters);
			// Held already (a retried reservation): once is enough.
			if (checks?.held) return { ok: true };
			if (!checks?.jobs) return { ok: false, failed: 'TOO_MANY_JOBS' };
			if (!checks.daily) return { ok: false, failed: 'DAILY_LIMIT' };
			if (!checks.guild) return { ok: false, failed: 'GUILD_DAILY' };
			if (!checks.user) return { ok: false, failed: 'USER_QUOTA' };
			if (!checks.global) return { ok: false, failed: 'GLOBAL_QUOTA' };
			if (!checks.credits) return { ok: false, failed: 'CREDIT_BUDGET' };
			// Another job released in between: the limits fit now, so try again.
		}
		return { ok: false, failed: 'GLOBAL_QUOTA' };
	}

	public async commit(file: FileRow, charge: CommitCharge, limits: LedgerLimits): Promise<AdmissionOutcome> {
		const parameters = {
			user: file.userId,
			image: file.imageId,
			ext: file.ext,
			bytes: file.bytes,
			createdAt: file.createdAt,
			temp: file.temp,
			name: file.name,
			metadata: file.metadata ?? null,
			reservation: charge.reservationId ?? '',
			chargeDay: charge.day,
			chargeCost: charge.cost,
			chargeGuild: charge.guildId,
			chargeCredits: charge.credits,
			...limitParameters(limits)
		};
		for (let attempt = 0; attempt < 3; attempt++) {
			if ((await this.#statements.commit.all(parameters)).length === 1) return { ok: true };
			const [checks] = await this.#statements.commitChecks.all(parameters);
			// Recorded already (a retried commit): once is enough.
			if (checks?.committed) return { ok: true };
			if (!checks?.user) return { ok: false, failed: 'USER_QUOTA' };
			if (!checks.global) return { ok: false, failed: 'GLOBAL_QUOTA' };
			// Space was freed in between: the image fits now, so try again.
		}
		return { ok: false, failed: 'GLOBAL_QUOTA' };
	}

	public async startJob(reservationId: string, userId: string, maxRunning: number, now: number): Promise<JobStart> {
		const parameters = { id: reservationId, user: userId, maxRunning, now };
		if ((await this.#statements.startJob.all(parameters)).length === 1) return { started: true };
		const [place] = await this.#statements.jobPlace.all(parameters);
		if (!place || place.started) return { started: true };
		return { started: false, position: Number(place.position) };
	}

	public async release(reservationId: string): Promise<boolean> {
		return (await this.#statements.release.all({ id: reservationId })).length > 0;
	}

	public async usage(userId: string, day: string, now: number): Promise<UsageSnapshot> {
		const [row] = await this.#statements.usage.all({ user: userId, day, now });
		return usageSnapshotOf(row);
	}

	public async getFile(userId: string, imageId: string): Promise<FileRow | null> {
		const [row] = await this.#statements.getFile.all({ user: userId, image: imageId });
		return row ? toFileRow(row) : null;
	}

	public async listFiles(userId: string): Promise<FileRow[]> {
		return (await this.#statements.listFiles.all({ user: userId })).map(toFileRow);
	}

	public async removeFile(userId: string, imageId: string): Promise<FileRow | null> {
		const [row] = await this.#statements.removeFile.all({ user: userId, image: imageId });
		return row ? toFileRow(row) : null;
	}

	public async tempFilesOlderThan(createdBefore: number): Promise<FileRow[]> {
		const rows = await this.#connection.all('SELECT * FROM imagine_files WHERE temp = 1 AND created_at < $before ORDER BY created_at', {
			before: createdBefore
		});
		return rows.map(toFileRow);
	}

	public async topUsers(limit: number): Promise<UserTotal[]> {
		const rows = await this.#connection.all(
			"SELECT substr(scope, 3) AS userId, bytes, files FROM imagine_totals WHERE scope LIKE 'u:%' AND files > 0 ORDER BY bytes DESC LIMIT $limit",
			{ limit }
		);
		return rows.map((row) => ({ userId: String(row.userId), bytes: Number(row.bytes), files: Number(row.files) }));
	}

	public async allFiles(): Promise<FileRow[]> {
		const rows = await this.#connection.all(`SELECT ${FILE_COLUMNS.replace('metadata', 'NULL AS metadata')} FROM imagine_files`);
		return rows.map(toFileRow);
	}

	public applyCorrections(remove: readonly FileKey[], add: readonly FileRow[]) {
		return applyCorrections(this.#connection, remove, add);
	}

	public rebuildTotals(): Promise<number> {
		return rebuildTotals(this.#connection);
	}

	public async reservationOwners(): Promise<string[]> {
		return (await this.#connection.all('SELECT DISTINCT owner FROM imagine_reservations')).map((row) => String(row.owner));
	}

	public purgeReservations(now: number, deadOwners: readonly string[]): Promise<number> {
		return purgeReservations(this.#connection, now, deadOwners);
	}

	public async restoreDaily(counts: readonly DailyCount[]): Promise<void> {
		for (const count of counts) {
			await this.#connection.all(
				`INSERT INTO imagine_daily (user_id, day, used) VALUES ($user, $day, $used)
				ON CONFLICT (user_id, day) DO UPDATE SET used = MAX(used, excluded.used)`,
				{ user: count.userId, day: count.day, used: count.used }
			);
		}
	}

	public async restoreCharges(guildDaily: readonly GuildDailyCount[], creditDays: readonly CreditDayCount[]): Promise<void> {
		for (const count of guildDaily) {
			await this.#connection.all(
				`INSERT INTO imagine_guild_daily (guild_id, day, used) VALUES ($guild, $day, $used)
				ON CONFLICT (guild_id, day) DO UPDATE SET used = MAX(used, excluded.used)`,
				{ guild: count.guildId, day: count.day, used: count.used }
			);
		}
		for (const row of creditDays) {
			await this.#connection.all(
				`INSERT INTO imagine_credit_daily (scope, day, spent, generations) VALUES ($scope, $day, $spent, $generations)
				ON CONFLICT (scope, day) DO UPDATE SET spent = MAX(spent, excluded.spent), generations = MAX(generations, excluded.generations)`,
				{ scope: row.scope, day: row.day, spent: row.spent, generations: row.generations }
			);
		}
	}

	public async pruneDaily(beforeDay: string): Promise<void> {
		await this.#connection.all('DELETE FROM imagine_daily WHERE day < $day', { day: beforeDay });
	}

	public async resetDaily(userId: string, day: string): Promise<number> {
		const [row] = await this.#connection.all('DELETE FROM imagine_daily WHERE user_id = $user AND day = $day RETURNING used', {
			user: userId,
			day
		});
		return Number(row?.used ?? 0);
	}

	public async refundDaily(userId: string, day: string, cost: number, guildId?: string | null, credits = 0): Promise<void> {
		if (credits > 0 || cost > 0) {
			await this.#connection.all(
				`UPDATE imagine_credit_daily SET spent = MAX(0, spent - $credits), generations = MAX(0, generations - $cost)
				WHERE day = $day AND scope IN ('global', 'u:' || $user, 'g:' || $guild)`,
				{ credits, cost, day, user: userId, guild: guildId ?? '' }
			);
		}
		if (cost <= 0) return;
		await this.#connection.all('UPDATE imagine_daily SET used = MAX(0, used - $cost) WHERE user_id = $user AND day = $day', {
			cost,
			user: userId,
			day
		});
		if (!guildId) return;
		await this.#connection.all('UPDATE imagine_guild_daily SET used = MAX(0, used - $cost) WHERE guild_id = $guild AND day = $day', {
			cost,
			guild: guildId,
			day
		});
	}

	public async creditUsage(day: string, now: number, userId = '', guildId = ''): Promise<CreditUsage> {
		const [row] = await this.#connection.all(
			`SELECT COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'global' AND day = $day), 0) AS globalSpent,
				COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE day = $day AND expires_at > $now), 0) AS globalReserved,
				COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'u:' || $user AND day = $day), 0) AS userSpent,
				COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE user_id = $user AND day = $day AND expires_at > $now), 0) AS userReserved,
				COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'g:' || $guild AND day = $day), 0) AS guildSpent,
				COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE guild_id = $guild AND day = $day AND expires_at > $now), 0) AS guildReserved`,
			{ day, now, user: userId, guild: guildId }
		);
		return creditUsageOf(row);
	}

	public async creditHistory(fromDay: string): Promise<{ day: string; spent: number; generations: number }[]> {
		const rows = await this.#connection.all(
			"SELECT day, spent, generations FROM imagine_credit_daily WHERE scope = 'global' AND day >= $from ORDER BY day",
			{ from: fromDay }
		);
		return rows.map((row) => ({ day: String(row.day), spent: Number(row.spent), generations: Number(row.generations) }));
	}

	public async creditBudget(scope: string): Promise<number | null> {
		const [row] = await this.#connection.all('SELECT milli FROM imagine_credit_budgets WHERE scope = $scope', { scope });
		return row ? Number(row.milli) : null;
	}

	public async setCreditBudget(scope: string, milli: number | null): Promise<void> {
		if (milli === null) await this.#connection.all('DELETE FROM imagine_credit_budgets WHERE scope = $scope', { scope });
		else
			await this.#connection.all(
				'INSERT INTO imagine_credit_budgets (scope, milli) VALUES ($scope, $milli) ON CONFLICT (scope) DO UPDATE SET milli = excluded.milli',
				{ scope, milli }
			);
	}

	public async guildDailyUsed(guildId: string, day: string, now: number): Promise<number> {
		const [row] = await this.#connection.all(
			`SELECT COALESCE((SELECT used FROM imagine_guild_daily WHERE guild_id = $guild AND day = $day), 0)
				+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE guild_id = $guild AND day = $day AND expires_at > $now), 0) AS used`,
			{ guild: guildId, day, now }
		);
		return Number(row?.used ?? 0);
	}

	public async getOverride(userId: string, now: number): Promise<LimitOverride | null> {
		const cached = this.#overrideCache.get(userId);
		if (cached && cached.until > now) return cached.value;
		const value = await readOverride(this.#connection, userId);
		this.#overrideCache.set(userId, { value, until: now + OVERRIDE_CACHE_MS });
		return value;
	}

	/** Applies at once in this process, within 2 s in others (their override cache). */
	public async setOverride(userId: string, changes: LimitOverride | null): Promise<LimitOverride | null> {
		const override = await changeOverride(this.#connection, userId, changes);
		this.#overrideCache.delete(userId);
		return override;
	}

	public blocklist(guildIds: readonly string[]): Promise<BlocklistRow[]> {
		return readBlocklist(this.#connection, guildIds);
	}

	public addToBlocklist(guildId: string, entries: readonly string[], now: number): Promise<string[]> {
		return addToBlocklist(this.#connection, guildId, entries, now);
	}

	public removeFromBlocklist(guildId: string, entries: readonly string[]): Promise<string[]> {
		return removeFromBlocklist(this.#connection, guildId, entries);
	}

	public setBlock(block: BlockRow): Promise<void> {
		return setBlock(this.#connection, block);
	}

	public removeBlock(userId: string, guildId: string): Promise<BlockRow | null> {
		return removeBlock(this.#connection, userId, guildId);
	}

	public blocksOf(userId: string, guildIds: readonly string[]): Promise<BlockRow[]> {
		return blocksOf(this.#connection, userId, guildIds);
	}

	public guildSettings(guildId: string): Promise<GuildSettingsRow | null> {
		return readGuildSettings(this.#connection, guildId);
	}

	public changeGuildSettings(guildId: string, changes: GuildSettingsChange, expected?: GateExpectation): Promise<GuildSettingsRow | null> {
		return changeGuildSettings(this.#connection, guildId, changes, expected);
	}

	public async verify(): Promise<string | null> {
		const now = await stat(this.location).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)));
		if (!now) return `the ledger file ${this.location} was deleted while in use`;
		if (now.dev !== this.#file.dev || now.ino !== this.#file.ino) return `the ledger file ${this.location} was replaced while in use`;
		return null;
	}

	/** One host only, and reconciles beside each other are safe on SQLite (each correction is one statement). */
	public exclusive<T>(_purpose: string, task: () => Promise<T>): Promise<T> {
		return task();
	}

	public async claimRatePlace(place: RatePlaceClaim): Promise<number | null> {
		const now = Date.now();
		const parameters = { ...place, now, since: now - place.maxHoldMs };
		// Counting and inserting in one statement: SQLite runs it under its write lock, across processes.
		const granted = await this.#connection.all(
			`INSERT INTO imagine_rate_places (id, key, claimed_at, frees_at)
			SELECT $id, $key, $now, NULL
			WHERE (SELECT COUNT(*) FROM imagine_rate_places
				WHERE key = $key AND (frees_at > $now OR (frees_at IS NULL AND claimed_at > $since))) < $limit
			RETURNING id`,
			parameters
		);
		if (granted.length > 0) {
			await this.#connection.all(
				'DELETE FROM imagine_rate_places WHERE key = $key AND (frees_at <= $now OR (frees_at IS NULL AND claimed_at <= $since))',
				parameters
			);
			return null;
		}
		const [next] = await this.#connection.all(
			'SELECT MIN(frees_at) AS frees FROM imagine_rate_places WHERE key = $key AND frees_at > $now',
			parameters
		);
		// Every place is in flight: one frees only when its request ends, so ask again soon.
		return typeof next?.frees === 'number' ? Math.max(1, next.frees - now) : RATE_POLL_MS;
	}

	public async endRatePlace(placeId: string, windowMs: number): Promise<void> {
		await this.#connection.all('UPDATE imagine_rate_places SET frees_at = $frees WHERE id = $id', {
			id: placeId,
			frees: Date.now() + windowMs
		});
	}

	public async claimStore(storeId: string): Promise<string> {
		const read = async () => (await this.#connection.all("SELECT value FROM imagine_meta WHERE key = 'store'"))[0]?.value;
		const claimed = await read();
		if (typeof claimed === 'string') return claimed;
		await this.#connection.all("INSERT INTO imagine_meta (key, value) VALUES ('store', $id) ON CONFLICT (key) DO NOTHING", { id: storeId });
		return String(await read());
	}

	public async registerInstance(instance: InstanceRow): Promise<void> {
		await this.#connection.all(
			`INSERT INTO imagine_instances (id, host, pid, started_at, heartbeat_at) VALUES ($id, $host, $pid, $startedAt, $heartbeatAt)
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
			{ ...instance }
		);
	}

	public async heartbeatInstance(id: string, now: number): Promise<boolean> {
		return (
			(await this.#connection.all('UPDATE imagine_instances SET heartbeat_at = $now WHERE id = $id RETURNING id', { id, now })).length > 0
		);
	}

	public async removeInstance(id: string): Promise<void> {
		await this.#connection.all('DELETE FROM imagine_reservations WHERE owner = $id', { id });
		await this.#connection.all('DELETE FROM imagine_instances WHERE id = $id', { id });
	}

	public async instances(): Promise<InstanceRow[]> {
		const rows = await this.#connection.all('SELECT id, host, pid, started_at, heartbeat_at FROM imagine_instances');
		return rows.map((row) => ({
			id: String(row.id),
			host: String(row.host),
			pid: Number(row.pid),
			startedAt: Number(row.started_at),
			heartbeatAt: Number(row.heartbeat_at)
		}));
	}

	public async removeInstances(ids: readonly string[]): Promise<void> {
		for (const id of ids) await this.#connection.all('DELETE FROM imagine_instances WHERE id = $id', { id });
	}

	public async close(): Promise<void> {
		await this.keyv.disconnect();
		await this.#connection.close();
	}
}

/**
 * A damaged file is named as such, with what to do: the counters exist only in the ledger, but the images and
 * their sidecars rebuild it (today's generation counts included), so moving the damaged file aside is safe.
 */
function explainOpenFailure(error: unknown, file: string): unknown {
	const code = (error as { code?: unknown } | null)?.code;
	if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB') return error;
	return new StorageConfigError(
		`The quota ledger ${file} is damaged (${String(code)}: ${(error as Error).message.replace(/^SQLITE_\w+: /, '')}). ` +
			`Move it aside (mv ${file} ${file}.damaged) and start again: a new ledger is rebuilt from the stored images, ` +
			"today's generation counts included. Keep the damaged file for a closer look; do not just delete it while the bot runs."
	);
}

function limitParameters(limits: LedgerLimits) {
	return {
		jobLimit: limits.jobs,
		dailyLimit: limits.dailyGens,
		guildLimit: limits.guildDailyGens,
		globalCredits: limits.globalCredits,
		userCredits: limits.userCredits,
		guildCredits: limits.guildCredits,
		userLimit: limits.userBytes,
		globalLimit: limits.globalBytes
	};
}

function toFileRow(row: SqlRow): FileRow {
	return {
		imageId: String(row.image_id),
		userId: String(row.user_id),
		temp: row.temp === 1,
		ext: String(row.ext),
		bytes: Number(row.bytes),
		createdAt: Number(row.created_at),
		name: String(row.name),
		metadata: typeof row.metadata === 'string' ? row.metadata : null
	};
}
