import { isSnowflake } from '../../ids.js';
import type { SqliteConnection } from './SqliteConnection.js';

/**
 * The SQLite ledger's schema, versioned with `PRAGMA user_version`. Opening a ledger that is already at the
 * current version runs no DDL and writes nothing (a read-only command on a full disk still works and never
 * waits for the write lock). Migrations run in one `BEGIN IMMEDIATE` transaction, which takes the write lock
 * across processes: when several processes start at once, one migrates and the others find the work done.
 */

/** Version 1: the first schema (ledgers written before versioning report user_version 0 but have these tables). */
const V1 = `
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
CREATE TRIGGER IF NOT EXISTS imagine_files_removed AFTER DELETE ON imagine_files BEGIN
	UPDATE imagine_totals SET bytes = bytes - OLD.bytes, files = files - 1 WHERE scope = 'global';
	UPDATE imagine_totals SET bytes = bytes - OLD.bytes, files = files - 1
		WHERE scope = CASE WHEN OLD.temp = 1 THEN 'temp' ELSE 'u:' || OLD.user_id END;
END;
`;

/**
 * Version 2:
 * - a stored image names the day and cost it was charged (`charge_day`, `charge_cost`), and the insert trigger
 *   charges exactly that: a commit always charges, even when its reservation expired and was purged meanwhile;
 * - per-user overrides move from Keyv into a table of their own, so a change to one field is one atomic upsert
 *   (a get-then-set through Keyv lost one of two simultaneous changes);
 * - processes register as instances with a heartbeat: reservations and partial writes name their instance, and
 *   liveness no longer depends on a pid that a restarted container reuses;
 * - `imagine_meta` records which image store the ledger describes (a ledger refuses to describe another).
 */
const V2 = `
ALTER TABLE imagine_files ADD COLUMN charge_day TEXT;
ALTER TABLE imagine_files ADD COLUMN charge_cost INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER IF EXISTS imagine_files_added;
CREATE TRIGGER imagine_files_added AFTER INSERT ON imagine_files BEGIN
	UPDATE imagine_totals SET bytes = bytes + NEW.bytes, files = files + 1 WHERE scope = 'global';
	INSERT INTO imagine_totals (scope, bytes, files)
		VALUES (CASE WHEN NEW.temp = 1 THEN 'temp' ELSE 'u:' || NEW.user_id END, NEW.bytes, 1)
		ON CONFLICT (scope) DO UPDATE SET bytes = bytes + excluded.bytes, files = files + 1;
	INSERT INTO imagine_daily (user_id, day, used)
		SELECT NEW.user_id, NEW.charge_day, NEW.charge_cost WHERE NEW.charge_cost > 0 AND NEW.charge_day IS NOT NULL
		ON CONFLICT (user_id, day) DO UPDATE SET used = used + excluded.used;
	DELETE FROM imagine_reservations WHERE NEW.reservation_id IS NOT NULL AND id = NEW.reservation_id;
END;
CREATE TABLE imagine_overrides (
	user_id TEXT PRIMARY KEY,
	daily_gens INTEGER,
	storage_mb REAL
) WITHOUT ROWID;
CREATE TABLE imagine_meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE imagine_instances (
	id TEXT PRIMARY KEY,
	host TEXT NOT NULL,
	pid INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

/**
 * Version 3: the places of providers' rate windows, shared by every process on the ledger (Stability counts requests
 * per key, whichever shard sends them).
 */
const V3 = `
CREATE TABLE imagine_rate_places (
	id TEXT PRIMARY KEY,
	key TEXT NOT NULL,
	claimed_at INTEGER NOT NULL,
	frees_at INTEGER
) WITHOUT ROWID;
CREATE INDEX imagine_rate_places_by_key ON imagine_rate_places (key, frees_at);
`;

/**
 * Version 4: the owners' controls, so a change made with the command-line tool applies to every process at once. The
 * prompt blocklists and the blocked users (`guild_id` '' is the bot owner's, bot-wide; a server id that server's own;
 * `until` null: until lifted), each server's settings (its gates, its members' daily limit and its daily total; a list of
 * ids as JSON, null for no restriction) and each server's daily count (charged with the image, as the user's is). A reservation says whether it is a generation job and when it started generating, for
 * the per-user job caps.
 * Written so that running it again changes nothing.
 */
const V4 = `
CREATE TABLE IF NOT EXISTS imagine_blocklist (
	guild_id TEXT NOT NULL,
	entry TEXT NOT NULL,
	added_at INTEGER NOT NULL,
	PRIMARY KEY (guild_id, entry)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imagine_blocks (
	user_id TEXT NOT NULL,
	guild_id TEXT NOT NULL,
	reason TEXT,
	until INTEGER,
	blocked_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, guild_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imagine_guild_settings (
	guild_id TEXT PRIMARY KEY,
	enabled INTEGER NOT NULL DEFAULT 1,
	channel_ids TEXT,
	role_ids TEXT,
	member_daily_gens INTEGER,
	guild_daily_gens INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imagine_guild_daily (
	guild_id TEXT NOT NULL,
	day TEXT NOT NULL,
	used INTEGER NOT NULL,
	PRIMARY KEY (guild_id, day)
) WITHOUT ROWID;
`;

/**
 * Charges a server's daily total when an image asked from it is recorded (beside the user's, in imagine_files_added),
 * and the provider credits it spent to the bot's and the user's daily spend (milli-credits, 'global' and 'u:<id>'), with
 * the generations charged: a history kept for the usage chart (the daily counts themselves are pruned after a week).
 */
const V4_CHARGES = `
CREATE TABLE IF NOT EXISTS imagine_credit_daily (
	scope TEXT NOT NULL,
	day TEXT NOT NULL,
	spent INTEGER NOT NULL,
	generations INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imagine_credit_budgets (
	scope TEXT PRIMARY KEY,
	milli INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS imagine_files_credits_charged AFTER INSERT ON imagine_files
WHEN NEW.charge_day IS NOT NULL AND (NEW.charge_credits > 0 OR NEW.charge_cost > 0) BEGIN
	INSERT INTO imagine_credit_daily (scope, day, spent, generations)
		VALUES ('global', NEW.charge_day, NEW.charge_credits, NEW.charge_cost), ('u:' || NEW.user_id, NEW.charge_day, NEW.charge_credits, NEW.charge_cost)
		ON CONFLICT (scope, day) DO UPDATE SET spent = spent + excluded.spent, generations = generations + excluded.generations;
END;
CREATE TRIGGER IF NOT EXISTS imagine_files_guild_charged AFTER INSERT ON imagine_files
WHEN NEW.charge_guild IS NOT NULL AND NEW.charge_cost > 0 AND NEW.charge_day IS NOT NULL BEGIN
	INSERT INTO imagine_guild_daily (guild_id, day, used) VALUES (NEW.charge_guild, NEW.charge_day, NEW.charge_cost)
		ON CONFLICT (guild_id, day) DO UPDATE SET used = used + excluded.used;
END;
`;

/**
 * Version 5: a server's provider-credit spend per day ('g:<id>'), charged with the image beside the bot's and the
 * user's, for the per-server daily credit budget. Written so that running it again changes nothing.
 */
const V5 = `
DROP TRIGGER IF EXISTS imagine_files_credits_charged;
CREATE TRIGGER imagine_files_credits_charged AFTER INSERT ON imagine_files
WHEN NEW.charge_day IS NOT NULL AND (NEW.charge_credits > 0 OR NEW.charge_cost > 0) BEGIN
	INSERT INTO imagine_credit_daily (scope, day, spent, generations)
		SELECT 'global', NEW.charge_day, NEW.charge_credits, NEW.charge_cost
		UNION ALL SELECT 'u:' || NEW.user_id, NEW.charge_day, NEW.charge_credits, NEW.charge_cost
		UNION ALL SELECT 'g:' || NEW.charge_guild, NEW.charge_day, NEW.charge_credits, NEW.charge_cost WHERE NEW.charge_guild IS NOT NULL
		ON CONFLICT (scope, day) DO UPDATE SET spent = spent + excluded.spent, generations = generations + excluded.generations;
END;
`;

/**
 * Version 6: whether a server's age-restricted (NSFW) channels use the laxer setting (`nsfw_lax`, off for every
 * server already set). ALTER TABLE has no IF NOT EXISTS in SQLite: the column is looked for first, so that running
 * this again changes nothing.
 */
async function addNsfwLax(connection: SqliteConnection): Promise<void> {
	const columns = new Set((await connection.all('PRAGMA table_info(imagine_guild_settings)')).map((row) => String(row.name)));
	if (!columns.has('nsfw_lax')) await connection.exec('ALTER TABLE imagine_guild_settings ADD COLUMN nsfw_lax INTEGER NOT NULL DEFAULT 0');
}

/** Each entry takes the schema from version `index` to `index + 1`. */
const MIGRATIONS: readonly ((connection: SqliteConnection) => Promise<void>)[] = [
	(connection) => connection.exec(V1),
	async (connection) => {
		await connection.exec(V2);
		await importKeyvOverrides(connection);
	},
	(connection) => connection.exec(V3),
	async (connection) => {
		await connection.exec(V4);
		// ALTER TABLE has no IF NOT EXISTS in SQLite: look first, so that running this again changes nothing.
		const columns = new Set((await connection.all('PRAGMA table_info(imagine_reservations)')).map((row) => String(row.name)));
		if (!columns.has('job')) await connection.exec('ALTER TABLE imagine_reservations ADD COLUMN job INTEGER NOT NULL DEFAULT 0');
		if (!columns.has('started_at')) await connection.exec('ALTER TABLE imagine_reservations ADD COLUMN started_at INTEGER');
		if (!columns.has('guild_id')) await connection.exec('ALTER TABLE imagine_reservations ADD COLUMN guild_id TEXT');
		if (!columns.has('credits')) await connection.exec('ALTER TABLE imagine_reservations ADD COLUMN credits INTEGER NOT NULL DEFAULT 0');
		const fileColumns = new Set((await connection.all('PRAGMA table_info(imagine_files)')).map((row) => String(row.name)));
		if (!fileColumns.has('charge_guild')) await connection.exec('ALTER TABLE imagine_files ADD COLUMN charge_guild TEXT');
		if (!fileColumns.has('charge_credits'))
			await connection.exec('ALTER TABLE imagine_files ADD COLUMN charge_credits INTEGER NOT NULL DEFAULT 0');
		await connection.exec(V4_CHARGES);
	},
	(connection) => connection.exec(V5),
	addNsfwLax
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The tables a ledger at SCHEMA_VERSION has (what a health check looks for), read from the migrations themselves. */
export const SCHEMA_TABLES: readonly string[] = [
	...`${V1}${V2}${V3}${V4}${V4_CHARGES}`.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)
].map((match) => match[1] as string);

/** The schema version of an open ledger (0 for a new file; 1 for a ledger from before versioning). */
export async function schemaVersion(connection: SqliteConnection): Promise<number> {
	const [row] = await connection.all('PRAGMA user_version');
	const version = Number(row?.user_version ?? 0);
	if (version > 0) return version;
	const [table] = await connection.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'imagine_files'");
	return table ? 1 : 0;
}

/**
 * Brings the ledger to SCHEMA_VERSION. Returns the version it found (0: the ledger is new). A ledger newer than
 * this code is refused rather than written with assumptions that no longer hold.
 */
export async function migrate(connection: SqliteConnection): Promise<number> {
	const found = await schemaVersion(connection);
	if (found === SCHEMA_VERSION) return found;
	if (found > SCHEMA_VERSION) {
		throw new Error(
			`The quota ledger has schema version ${found}, newer than this version of sapphire-imagine understands (${SCHEMA_VERSION}): upgrade it.`
		);
	}
	// WAL lets readers and one writer (from any process) work side by side. It is a property of the file, set once.
	const [mode] = await connection.all('PRAGMA journal_mode');
	if (mode?.journal_mode !== 'wal') await connection.exec('PRAGMA journal_mode = WAL');
	await connection.exec('BEGIN IMMEDIATE');
	try {
		// Read again under the write lock: another process may have migrated while this one waited.
		const current = await schemaVersion(connection);
		for (let version = current; version < SCHEMA_VERSION; version++)
			await (MIGRATIONS[version] as (c: SqliteConnection) => Promise<void>)(connection);
		if (current < SCHEMA_VERSION) await connection.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
		await connection.exec('COMMIT');
	} catch (error) {
		await connection.exec('ROLLBACK').catch(() => undefined);
		throw error;
	}
	return found;
}

/** Overrides kept by earlier versions in Keyv's table (`imagine:limits:<id>` -> `{ value: { dailyGens, storageMb } }`). */
async function importKeyvOverrides(connection: SqliteConnection): Promise<void> {
	const [keyv] = await connection.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'keyv'");
	if (!keyv) return;
	const rows = await connection.all("SELECT key, value FROM keyv WHERE key LIKE 'imagine:limits:%'");
	for (const row of rows) {
		const userId = String(row.key).slice('imagine:limits:'.length);
		const override = keyvValue(row.value);
		if (!isSnowflake(userId) || !override) continue;
		await connection.all('INSERT OR REPLACE INTO imagine_overrides (user_id, daily_gens, storage_mb) VALUES ($user, $daily, $storage)', {
			user: userId,
			daily: override.dailyGens ?? null,
			storage: override.storageMb ?? null
		});
	}
	await connection.all("DELETE FROM keyv WHERE key LIKE 'imagine:limits:%'");
}

function keyvValue(text: unknown): { dailyGens?: number; storageMb?: number } | null {
	try {
		const parsed = JSON.parse(String(text)) as { value?: unknown };
		const value = (parsed.value ?? parsed) as { dailyGens?: unknown; storageMb?: unknown };
		const dailyGens = Number.isSafeInteger(value.dailyGens) && (value.dailyGens as number) >= 0 ? (value.dailyGens as number) : undefined;
		const storageMb = typeof value.storageMb === 'number' && value.storageMb > 0 ? value.storageMb : undefined;
		return dailyGens === undefined && storageMb === undefined ? null : { dailyGens, storageMb };
	} catch {
		return null;
	}
}
