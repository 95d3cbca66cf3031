import { KeyvSqlite } from '@keyv/sqlite';
import Keyv from 'keyv';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteConnection, type SqlRow } from './SqliteConnection.js';

/**
 * The quota ledger: what is stored and what is reserved, in the SQLite file Keyv opens.
 *
 * Keyv has no atomic update, and a get-then-set from two requests (or two shard processes) loses updates.
 * So every change that guards a limit is ONE conditional SQL statement on that file: SQLite runs a
 * statement under its write lock, which holds across processes. Aggregates (bytes and file counts per
 * user, for temp, for everything) are kept by triggers in the same statement as the row change, which
 * makes a quota status a few primary-key reads, whatever the number of files.
 * Keyv itself holds what is read far more than written: per-user limit overrides.
 */

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS imagine_files (
	user_id TEXT NOT NULL,
	image_id TEXT NOT NULL,
	temp INTEGER NOT NULL,
	ext TEXT NOT NULL,
	bytes INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	name TEXT NOT NULL,
	metadata TEXT,
	reservation_id TEXT,
	PRIMARY KEY (user_id, image_id)
);
CREATE INDEX IF NOT EXISTS imagine_temp_files_by_age ON imagine_files (created_at) WHERE temp = 1;
CREATE TABLE IF NOT EXISTS imagine_totals (
	scope TEXT PRIMARY KEY,
	bytes INTEGER NOT NULL,
	files INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO imagine_totals (scope, bytes, files) VALUES ('global', 0, 0), ('temp', 0, 0);
CREATE TABLE IF NOT EXISTS imagine_daily (
	user_id TEXT NOT NULL,
	day TEXT NOT NULL,
	used INTEGER NOT NULL,
	PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imagine_reservations (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	day TEXT NOT NULL,
	bytes INTEGER NOT NULL,
	cost INTEGER NOT NULL,
	temp INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	owner TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS imagine_files_added AFTER INSERT ON imagine_files BEGIN
	UPDATE imagine_totals SET bytes = bytes + NEW.bytes, files = files + 1 WHERE scope = 'global';
	INSERT INTO imagine_totals (scope, bytes, files)
		VALUES (CASE WHEN NEW.temp = 1 THEN 'temp' ELSE 'u:' || NEW.user_id END, NEW.bytes, 1)
		ON CONFLICT (scope) DO UPDATE SET bytes = bytes + excluded.bytes, files = files + 1;
	INSERT INTO imagine_daily (user_id, day, used)
		SELECT user_id, day, cost FROM imagine_reservations WHERE NEW.reservation_id IS NOT NULL AND id = NEW.reservation_id AND cost > 0
		ON CONFLICT (user_id, day) DO UPDATE SET used = used + excluded.used;
	DELETE FROM imagine_reservations WHERE NEW.reservation_id IS NOT NULL AND id = NEW.reservation_id;
END;
CREATE TRIGGER IF NOT EXISTS imagine_files_removed AFTER DELETE ON imagine_files BEGIN
	UPDATE imagine_totals SET bytes = bytes - OLD.bytes, files = files - 1 WHERE scope = 'global';
	UPDATE imagine_totals SET bytes = bytes - OLD.bytes, files = files - 1
		WHERE scope = CASE WHEN OLD.temp = 1 THEN 'temp' ELSE 'u:' || OLD.user_id END;
END;
`;

/** Limits in force for one request, already resolved (defaults, tiers, overrides). */
export interface LedgerLimits {
	dailyGens: number;
	userBytes: number;
	globalBytes: number;
}

export type LimitFailure = 'DAILY_LIMIT' | 'USER_QUOTA' | 'GLOBAL_QUOTA';

export interface ReservationRow {
	id: string;
	userId: string;
	day: string;
	bytes: number;
	cost: number;
	temp: boolean;
	now: number;
	expiresAt: number;
	owner: string;
}

export interface FileRow {
	imageId: string;
	userId: string;
	temp: boolean;
	ext: string;
	bytes: number;
	createdAt: number;
	name: string;
	/** JSON text of the image's metadata, or null. */
	metadata: string | null;
}

export interface UsageSnapshot {
	globalBytes: number;
	globalFiles: number;
	tempBytes: number;
	tempFiles: number;
	userBytes: number;
	userFiles: number;
	dailyUsed: number;
	/** Generations reserved today and not yet committed or released. */
	dailyPending: number;
	reservedGlobalBytes: number;
	reservedUserBytes: number;
}

export interface UserTotal {
	userId: string;
	bytes: number;
	files: number;
}

/** What an admin set for one user; a missing field falls back to tiers and defaults. */
export interface LimitOverride {
	dailyGens?: number;
	storageMb?: number;
}

/** Overrides are read on every reservation; other processes' changes are picked up within this time. */
const OVERRIDE_CACHE_MS = 2000;
/** Reconcile writes this many rows per statement: fast, and the write lock is never held for long. */
const RECONCILE_BATCH = 500;

/*
 * The three limit checks, shared by reserve and the denial diagnosis. Parameters:
 * ?2 user, ?3 day, ?4 bytes, ?5 cost, ?6 temp, ?7 now, ?10 daily limit, ?11 user bytes limit,
 * ?12 global bytes limit, ?13 a reservation to leave out.
 */
const LIVE = 'expires_at > ?7 AND id <> ?13';
const FITS_DAILY = `(?5 = 0 OR COALESCE((SELECT used FROM imagine_daily WHERE user_id = ?2 AND day = ?3), 0)
	+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE user_id = ?2 AND day = ?3 AND ${LIVE}), 0) + ?5 <= ?10)`;
const FITS_USER = `(?6 = 1 OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || ?2), 0)
	+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = ?2 AND temp = 0 AND ${LIVE}), 0) + ?4 <= ?11)`;
const FITS_GLOBAL = `(COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0)
	+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE ${LIVE}), 0) + ?4 <= ?12)`;

/*
 * At commit the real size is checked against what is stored, not against other jobs' reservations: the
 * generation is paid for already, and reservations only gate admission. An image larger than its estimate
 * then still commits when the disk has room; the caps on stored bytes hold either way. Parameters:
 * ?1 user, ?4 bytes, ?6 temp, ?10 user bytes limit, ?11 global bytes limit.
 */
const STORED_FITS_USER = `(?6 = 1 OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || ?1), 0) + ?4 <= ?10)`;
const STORED_FITS_GLOBAL = `(COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0) + ?4 <= ?11)`;

/** Copies of each hot statement, so concurrent requests overlap (see SqliteConnection.prepare). */
const HOT_COPIES = 4;

const FILE_COLUMNS = 'user_id, image_id, temp, ext, bytes, created_at, name, metadata, reservation_id';

/**
 * The hot statements are compiled once on the ledger's own connection: compiling a statement costs about
 * as much as running one of these, and Keyv's adapter compiles every call.
 */
function prepareStatements(connection: SqliteConnection) {
	return {
		reserve: connection.prepare(
			`INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, created_at, expires_at, owner)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
			WHERE ${FITS_DAILY} AND ${FITS_USER} AND ${FITS_GLOBAL}
			RETURNING id`,
			HOT_COPIES
		),
		reserveChecks: connection.prepare(`SELECT ${FITS_DAILY} AS daily, ${FITS_USER} AS user, ${FITS_GLOBAL} AS global`),
		commit: connection.prepare(
			`INSERT INTO imagine_files (${FILE_COLUMNS})
			SELECT ?1, ?2, ?6, ?3, ?4, ?5, ?7, ?8, NULLIF(?9, '')
			WHERE ${STORED_FITS_USER} AND ${STORED_FITS_GLOBAL}
			RETURNING image_id`,
			HOT_COPIES
		),
		commitChecks: connection.prepare(`SELECT ${STORED_FITS_USER} AS user, ${STORED_FITS_GLOBAL} AS global`),
		release: connection.prepare('DELETE FROM imagine_reservations WHERE id = ? RETURNING id', HOT_COPIES),
		usage: connection.prepare(
			`SELECT
				(SELECT bytes FROM imagine_totals WHERE scope = 'global') AS globalBytes,
				(SELECT files FROM imagine_totals WHERE scope = 'global') AS globalFiles,
				(SELECT bytes FROM imagine_totals WHERE scope = 'temp') AS tempBytes,
				(SELECT files FROM imagine_totals WHERE scope = 'temp') AS tempFiles,
				(SELECT bytes FROM imagine_totals WHERE scope = 'u:' || ?1) AS userBytes,
				(SELECT files FROM imagine_totals WHERE scope = 'u:' || ?1) AS userFiles,
				(SELECT used FROM imagine_daily WHERE user_id = ?1 AND day = ?2) AS dailyUsed,
				(SELECT SUM(cost) FROM imagine_reservations WHERE user_id = ?1 AND day = ?2 AND expires_at > ?3) AS dailyPending,
				(SELECT SUM(bytes) FROM imagine_reservations WHERE expires_at > ?3) AS reservedGlobalBytes,
				(SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = ?1 AND temp = 0 AND expires_at > ?3) AS reservedUserBytes`,
			HOT_COPIES
		),
		getFile: connection.prepare('SELECT * FROM imagine_files WHERE user_id = ? AND image_id = ?'),
		listFiles: connection.prepare('SELECT * FROM imagine_files WHERE user_id = ? AND temp = 0 ORDER BY image_id DESC'),
		removeFile: connection.prepare('DELETE FROM imagine_files WHERE user_id = ? AND image_id = ? RETURNING *')
	};
}

export class QuotaLedger {
	readonly #connection: SqliteConnection;
	readonly #statements: ReturnType<typeof prepareStatements>;
	readonly #keyv: Keyv<LimitOverride>;
	readonly #overrideCache = new Map<string, { value: LimitOverride | null; until: number }>();

	private constructor(connection: SqliteConnection, keyv: Keyv<LimitOverride>) {
		this.#connection = connection;
		this.#statements = prepareStatements(connection);
		this.#keyv = keyv;
	}

	/**
	 * Opens (and creates) the ledger behind a `sqlite://` Keyv URI: Keyv on it for the overrides, and one
	 * connection of the ledger's own for the counters. `created` says whether the file is new.
	 */
	public static async open(uri: string, busyTimeoutMs: number): Promise<QuotaLedger> {
		if (!uri.startsWith('sqlite://')) throw new TypeError(`The quota ledger needs a sqlite:// URI (got ${uri.split(':')[0]}:)`);
		const file = uri.slice('sqlite://'.length);
		mkdirSync(dirname(file), { recursive: true });
		const connection = await SqliteConnection.open(file, busyTimeoutMs);
		try {
			// WAL lets readers and one writer (from any process) work side by side; NORMAL sync is durable
			// against process crashes, and the files on disk (fsynced) rebuild the ledger after a power cut.
			await connection.exec(SCHEMA);
		} catch (error) {
			await connection.close();
			throw error;
		}
		const store = new KeyvSqlite({ uri, busyTimeout: busyTimeoutMs });
		store.on('error', () => undefined); // surfaced by the first query instead
		return new QuotaLedger(connection, new Keyv<LimitOverride>({ store, namespace: 'imagine' }));
	}

	/**
	 * Reserves one job's bytes and daily cost if, counting every live reservation, all three limits
	 * still hold. One INSERT ... SELECT ... WHERE: either it fits and is recorded, or nothing changes.
	 */
	public async reserve(row: ReservationRow, limits: LedgerLimits): Promise<{ ok: true } | { ok: false; failed: LimitFailure }> {
		const parameters = [
			row.id,
			row.userId,
			row.day,
			row.bytes,
			row.cost,
			row.temp ? 1 : 0,
			row.now,
			row.expiresAt,
			row.owner,
			limits.dailyGens,
			limits.userBytes,
			limits.globalBytes,
			''
		];
		for (let attempt = 0; attempt < 3; attempt++) {
			if ((await this.#statements.reserve.all(...parameters)).length === 1) return { ok: true };
			const [checks] = await this.#statements.reserveChecks.all(...parameters);
			if (!checks?.daily) return { ok: false, failed: 'DAILY_LIMIT' };
			if (!checks.user) return { ok: false, failed: 'USER_QUOTA' };
			if (!checks.global) return { ok: false, failed: 'GLOBAL_QUOTA' };
			// Another job released in between: the limits fit now, so try again.
		}
		return { ok: false, failed: 'GLOBAL_QUOTA' };
	}

	/**
	 * Records a saved image against its reservation, if its real size fits what is stored: the
	 * reservation is deleted, the daily counter charged and the totals raised by triggers within the
	 * same statement. Without a reservation (plain saves), pass null.
	 */
	public async commit(
		file: FileRow,
		reservation: { id: string; day: string; now: number } | null,
		limits: LedgerLimits
	): Promise<{ ok: true } | { ok: false; failed: LimitFailure }> {
		const parameters = [
			file.userId,
			file.imageId,
			file.ext,
			file.bytes,
			file.createdAt,
			file.temp ? 1 : 0,
			file.name,
			file.metadata,
			reservation?.id ?? '',
			limits.userBytes,
			limits.globalBytes
		];
		for (let attempt = 0; attempt < 3; attempt++) {
			if ((await this.#statements.commit.all(...parameters)).length === 1) return { ok: true };
			const [checks] = await this.#statements.commitChecks.all(...parameters);
			if (!checks?.user) return { ok: false, failed: 'USER_QUOTA' };
			if (!checks.global) return { ok: false, failed: 'GLOBAL_QUOTA' };
			// Space was freed in between: the image fits now, so try again.
		}
		return { ok: false, failed: 'GLOBAL_QUOTA' };
	}

	/** Gives a reservation's bytes and daily cost back. Safe to call twice. */
	public async release(reservationId: string): Promise<boolean> {
		return (await this.#statements.release.all(reservationId)).length > 0;
	}

	/** Everything a quota status needs, in one statement of primary-key reads and small sums. */
	public async usage(userId: string, day: string, now: number): Promise<UsageSnapshot> {
		const [row] = await this.#statements.usage.all(userId, day, now);
		const value = (key: string) => Number(row?.[key] ?? 0);
		return {
			globalBytes: value('globalBytes'),
			globalFiles: value('globalFiles'),
			tempBytes: value('tempBytes'),
			tempFiles: value('tempFiles'),
			userBytes: value('userBytes'),
			userFiles: value('userFiles'),
			dailyUsed: value('dailyUsed'),
			dailyPending: value('dailyPending'),
			reservedGlobalBytes: value('reservedGlobalBytes'),
			reservedUserBytes: value('reservedUserBytes')
		};
	}

	public async getFile(userId: string, imageId: string): Promise<FileRow | null> {
		const [row] = await this.#statements.getFile.all(userId, imageId);
		return row ? toFileRow(row) : null;
	}

	/** A user's saved (non-temp) images, newest first (ids sort by creation time). */
	public async listFiles(userId: string): Promise<FileRow[]> {
		return (await this.#statements.listFiles.all(userId)).map(toFileRow);
	}

	/** Removes a file's row (totals follow by trigger) and returns it, or null when there was none. */
	public async removeFile(userId: string, imageId: string): Promise<FileRow | null> {
		const [row] = await this.#statements.removeFile.all(userId, imageId);
		return row ? toFileRow(row) : null;
	}

	public async tempFilesOlderThan(createdBefore: number): Promise<FileRow[]> {
		const rows = await this.#connection.all(
			'SELECT * FROM imagine_files WHERE temp = 1 AND created_at < ? ORDER BY created_at',
			createdBefore
		);
		return rows.map(toFileRow);
	}

	/** Every file row, without metadata: what reconcile compares the disk with. */
	public async allFiles(): Promise<FileRow[]> {
		const rows = await this.#connection.all(`SELECT ${FILE_COLUMNS.replace('metadata', 'NULL AS metadata')} FROM imagine_files`);
		return rows.map(toFileRow);
	}

	/**
	 * Applies what reconcile found, a few hundred rows per statement. Each statement is atomic on its own, so
	 * no transaction spans them: an explicit transaction on this shared connection would sweep other requests'
	 * statements into it, and one on a second connection would hold the write lock while this process's own
	 * requests wait for it on every worker thread. Additions skip a row a concurrent save recorded meanwhile. Returns the image ids really removed and added.
	 */
	public async applyCorrections(
		remove: readonly { userId: string; imageId: string }[],
		add: readonly FileRow[]
	): Promise<{ removed: Set<string>; added: Set<string> }> {
		const removed = new Set<string>();
		const added = new Set<string>();
		for (let start = 0; start < remove.length; start += RECONCILE_BATCH) {
			const batch = remove.slice(start, start + RECONCILE_BATCH);
			const rows = await this.#connection.all(
				`DELETE FROM imagine_files WHERE (user_id, image_id) IN (VALUES ${batch.map(() => '(?, ?)').join(', ')}) RETURNING image_id`,
				...batch.flatMap((row) => [row.userId, row.imageId])
			);
			for (const row of rows) removed.add(String(row.image_id));
		}
		for (let start = 0; start < add.length; start += RECONCILE_BATCH) {
			const batch = add.slice(start, start + RECONCILE_BATCH);
			const rows = await this.#connection.all(
				`INSERT INTO imagine_files (${FILE_COLUMNS}) VALUES ${batch.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, NULL)').join(', ')}
				ON CONFLICT (user_id, image_id) DO NOTHING RETURNING image_id`,
				...batch.flatMap((row) => [row.userId, row.imageId, row.temp ? 1 : 0, row.ext, row.bytes, row.createdAt, row.name, row.metadata])
			);
			for (const row of rows) added.add(String(row.image_id));
		}
		return { removed, added };
	}

	/** The users storing the most, for reports. */
	public async topUsers(limit: number): Promise<UserTotal[]> {
		const rows = await this.#connection.all(
			"SELECT substr(scope, 3) AS userId, bytes, files FROM imagine_totals WHERE scope LIKE 'u:%' AND files > 0 ORDER BY bytes DESC LIMIT ?",
			limit
		);
		return rows.map((row) => ({ userId: String(row.userId), bytes: Number(row.bytes), files: Number(row.files) }));
	}

	/**
	 * Recomputes the totals from the file rows in two statements, each atomic, and says how many scopes
	 * were wrong. Triggers keep them right; this repairs a ledger edited by hand or by an older version.
	 */
	public async rebuildTotals(): Promise<number> {
		const wrong = await this.#connection.all(
			`WITH actual AS (
				SELECT 'global' AS scope, COALESCE(SUM(bytes), 0) AS bytes, COUNT(*) AS files FROM imagine_files
				UNION ALL SELECT 'temp', COALESCE(SUM(bytes), 0), COUNT(*) FROM imagine_files WHERE temp = 1
				UNION ALL SELECT 'u:' || user_id, SUM(bytes), COUNT(*) FROM imagine_files WHERE temp = 0 GROUP BY user_id
			)
			INSERT INTO imagine_totals (scope, bytes, files)
			SELECT a.scope, a.bytes, a.files FROM actual a LEFT JOIN imagine_totals t ON t.scope = a.scope
			WHERE (t.scope IS NULL AND (a.bytes <> 0 OR a.files <> 0)) OR t.bytes <> a.bytes OR t.files <> a.files
			ON CONFLICT (scope) DO UPDATE SET bytes = excluded.bytes, files = excluded.files
			RETURNING scope`
		);
		const stale = await this.#connection.all(
			`DELETE FROM imagine_totals WHERE scope LIKE 'u:%' AND (files <> 0 OR bytes <> 0)
				AND substr(scope, 3) NOT IN (SELECT user_id FROM imagine_files WHERE temp = 0)
			RETURNING scope`
		);
		return wrong.length + stale.length;
	}

	/** Drops reservations that expired or whose process is gone; returns how many. */
	public async purgeReservations(now: number, isDeadOwner: (owner: string) => boolean): Promise<number> {
		const expired = await this.#connection.all('DELETE FROM imagine_reservations WHERE expires_at <= ? RETURNING id', now);
		const owners = await this.#connection.all('SELECT DISTINCT owner FROM imagine_reservations');
		let dead = 0;
		for (const { owner } of owners) {
			if (typeof owner === 'string' && isDeadOwner(owner)) {
				dead += (await this.#connection.all('DELETE FROM imagine_reservations WHERE owner = ? RETURNING id', owner)).length;
			}
		}
		return expired.length + dead;
	}

	/** Forgets daily counters of days before `day`; they can no longer matter. */
	public async pruneDaily(beforeDay: string): Promise<void> {
		await this.#connection.all('DELETE FROM imagine_daily WHERE day < ?', beforeDay);
	}

	/** Sets today's count for a user back to 0 (an admin's reset); returns the count it had. */
	public async resetDaily(userId: string, day: string): Promise<number> {
		const [row] = await this.#connection.all('DELETE FROM imagine_daily WHERE user_id = ? AND day = ? RETURNING used', userId, day);
		return Number(row?.used ?? 0);
	}

	/** Takes back a daily charge whose image could not be published after all. */
	public async refundDaily(userId: string, day: string, cost: number): Promise<void> {
		if (cost > 0)
			await this.#connection.all('UPDATE imagine_daily SET used = MAX(0, used - ?) WHERE user_id = ? AND day = ?', cost, userId, day);
	}

	public async getOverride(userId: string, now: number): Promise<LimitOverride | null> {
		const cached = this.#overrideCache.get(userId);
		if (cached && cached.until > now) return cached.value;
		const value = (await this.#keyv.get(`limits:${userId}`)) ?? null;
		this.#overrideCache.set(userId, { value, until: now + OVERRIDE_CACHE_MS });
		return value;
	}

	/**
	 * Changes a user's override: each field given replaces that field, each field left out keeps what was set
	 * before; `null` clears the whole override. Applies at once in this process, within 2 s in others.
	 */
	public async setOverride(userId: string, changes: LimitOverride | null): Promise<LimitOverride | null> {
		const key = `limits:${userId}`;
		// Read fresh, not through the cache: the override is merged with what is stored now.
		const merged = changes === null ? null : { ...((await this.#keyv.get(key)) ?? {}), ...definedFields(changes) };
		if (merged === null || (merged.dailyGens === undefined && merged.storageMb === undefined)) await this.#keyv.delete(key);
		else await this.#keyv.set(key, merged);
		this.#overrideCache.delete(userId);
		return merged;
	}

	public async close(): Promise<void> {
		await this.#keyv.disconnect();
		await this.#connection.close();
	}
}

function definedFields(override: LimitOverride): LimitOverride {
	return {
		...(override.dailyGens === undefined ? {} : { dailyGens: override.dailyGens }),
		...(override.storageMb === undefined ? {} : { storageMb: override.storageMb })
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
