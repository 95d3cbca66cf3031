import type { PoolClient } from 'pg';

/**
 * The PostgreSQL ledger's schema, versioned in `imagine_meta` ('schema_version'). Opening a ledger at the current
 * version reads one row and writes nothing. Migrations run in one transaction under an advisory lock, so several
 * hosts starting at once migrate once: the others wait, then find the work done.
 *
 * Everything lives in the connection's current schema (`search_path`), so several bots, or tests, can share one
 * database in schemas of their own; advisory lock keys are derived from the schema name for the same reason.
 *
 * Why a lock at all, when SQLite needs none: PostgreSQL runs `INSERT … SELECT … WHERE <fits>` on a snapshot taken
 * when the statement starts, so two admissions at the same moment would both see the same sums and both fit.
 * `imagine_reserve` and `imagine_commit` take a transaction-scoped advisory lock and then run the same single
 * conditional statement as SQLite does; inside a plpgsql function each statement takes a fresh snapshot, so the
 * statement after the lock sees every admission committed before it. One round trip, one transaction.
 */

const V1 = `
CREATE TABLE IF NOT EXISTS imagine_meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE imagine_files (
	user_id TEXT NOT NULL,
	image_id TEXT NOT NULL,
	temp BOOLEAN NOT NULL,
	ext TEXT NOT NULL,
	bytes BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	name TEXT NOT NULL,
	metadata TEXT,
	reservation_id TEXT,
	charge_day TEXT,
	charge_cost INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, image_id)
);
CREATE INDEX imagine_temp_files_by_age ON imagine_files (created_at) WHERE temp;
CREATE TABLE imagine_totals (
	scope TEXT PRIMARY KEY,
	bytes BIGINT NOT NULL,
	files BIGINT NOT NULL
);
INSERT INTO imagine_totals (scope, bytes, files) VALUES ('global', 0, 0), ('temp', 0, 0);
CREATE TABLE imagine_daily (
	user_id TEXT NOT NULL,
	day TEXT NOT NULL,
	used INTEGER NOT NULL,
	PRIMARY KEY (user_id, day)
);
CREATE TABLE imagine_reservations (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	day TEXT NOT NULL,
	bytes BIGINT NOT NULL,
	cost INTEGER NOT NULL,
	temp BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	owner TEXT NOT NULL
);
CREATE INDEX imagine_reservations_by_user ON imagine_reservations (user_id, day);
CREATE TABLE imagine_overrides (
	user_id TEXT PRIMARY KEY,
	daily_gens INTEGER,
	storage_mb DOUBLE PRECISION
);
CREATE TABLE imagine_instances (
	id TEXT PRIMARY KEY,
	host TEXT NOT NULL,
	pid INTEGER NOT NULL,
	started_at BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL
);

CREATE FUNCTION imagine_lock_key(purpose TEXT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
	SELECT hashtext(current_schema() || ':imagine:' || purpose)::BIGINT
$$;

CREATE FUNCTION imagine_files_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE imagine_totals SET bytes = bytes + NEW.bytes, files = files + 1 WHERE scope = 'global';
	INSERT INTO imagine_totals (scope, bytes, files)
		VALUES (CASE WHEN NEW.temp THEN 'temp' ELSE 'u:' || NEW.user_id END, NEW.bytes, 1)
		ON CONFLICT (scope) DO UPDATE SET bytes = imagine_totals.bytes + EXCLUDED.bytes, files = imagine_totals.files + 1;
	IF NEW.charge_cost > 0 AND NEW.charge_day IS NOT NULL THEN
		INSERT INTO imagine_daily (user_id, day, used) VALUES (NEW.user_id, NEW.charge_day, NEW.charge_cost)
			ON CONFLICT (user_id, day) DO UPDATE SET used = imagine_daily.used + EXCLUDED.used;
	END IF;
	IF NEW.reservation_id IS NOT NULL THEN
		DELETE FROM imagine_reservations WHERE id = NEW.reservation_id;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER imagine_files_added AFTER INSERT ON imagine_files FOR EACH ROW EXECUTE FUNCTION imagine_files_added();

CREATE FUNCTION imagine_files_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE imagine_totals SET bytes = bytes - OLD.bytes, files = files - 1 WHERE scope = 'global';
	UPDATE imagine_totals SET bytes = bytes - OLD.bytes, files = files - 1
		WHERE scope = CASE WHEN OLD.temp THEN 'temp' ELSE 'u:' || OLD.user_id END;
	RETURN NULL;
END $$;
CREATE TRIGGER imagine_files_removed AFTER DELETE ON imagine_files FOR EACH ROW EXECUTE FUNCTION imagine_files_removed();

-- Admits a reservation when the daily count, the user's bytes and the global bytes all still fit, counting live
-- reservations. Returns 'ok' or the first limit that does not fit. Idempotent on the reservation id.
CREATE FUNCTION imagine_reserve(
	p_id TEXT, p_user TEXT, p_day TEXT, p_bytes BIGINT, p_cost INTEGER, p_temp BOOLEAN, p_now BIGINT, p_expires BIGINT,
	p_owner TEXT, p_daily_limit INTEGER, p_user_limit BIGINT, p_global_limit BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
	daily_fits BOOLEAN;
	user_fits BOOLEAN;
BEGIN
	PERFORM pg_advisory_xact_lock(imagine_lock_key('admission'));
	INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, created_at, expires_at, owner)
		SELECT p_id, p_user, p_day, p_bytes, p_cost, p_temp, p_now, p_expires, p_owner
		WHERE (p_cost = 0 OR COALESCE((SELECT used FROM imagine_daily WHERE user_id = p_user AND day = p_day), 0)
				+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE user_id = p_user AND day = p_day AND expires_at > p_now), 0)
				+ p_cost <= p_daily_limit)
			AND (p_temp OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0)
				+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = p_user AND NOT temp AND expires_at > p_now), 0)
				+ p_bytes <= p_user_limit)
			AND (COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0)
				+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE expires_at > p_now), 0)
				+ p_bytes <= p_global_limit)
		ON CONFLICT (id) DO NOTHING;
	IF FOUND OR EXISTS (SELECT 1 FROM imagine_reservations WHERE id = p_id) THEN
		RETURN 'ok';
	END IF;
	-- Refused: say which limit, for the message the user sees.
	daily_fits := p_cost = 0 OR COALESCE((SELECT used FROM imagine_daily WHERE user_id = p_user AND day = p_day), 0)
		+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE user_id = p_user AND day = p_day AND expires_at > p_now), 0)
		+ p_cost <= p_daily_limit;
	IF NOT daily_fits THEN RETURN 'DAILY_LIMIT'; END IF;
	user_fits := p_temp OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0)
		+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = p_user AND NOT temp AND expires_at > p_now), 0)
		+ p_bytes <= p_user_limit;
	IF NOT user_fits THEN RETURN 'USER_QUOTA'; END IF;
	RETURN 'GLOBAL_QUOTA';
END $$;

-- Records a stored image when its real size fits what is stored; the insert trigger charges the day, raises the
-- totals and ends the reservation. Returns 'ok' or the limit that does not fit. Idempotent on the image.
CREATE FUNCTION imagine_commit(
	p_user TEXT, p_image TEXT, p_temp BOOLEAN, p_ext TEXT, p_bytes BIGINT, p_created_at BIGINT, p_name TEXT, p_metadata TEXT,
	p_reservation TEXT, p_charge_day TEXT, p_charge_cost INTEGER, p_user_limit BIGINT, p_global_limit BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(imagine_lock_key('admission'));
	INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata, reservation_id, charge_day, charge_cost)
		SELECT p_user, p_image, p_temp, p_ext, p_bytes, p_created_at, p_name, p_metadata, p_reservation, p_charge_day, p_charge_cost
		WHERE (p_temp OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0) + p_bytes <= p_user_limit)
			AND COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0) + p_bytes <= p_global_limit
		ON CONFLICT (user_id, image_id) DO NOTHING;
	IF FOUND OR EXISTS (SELECT 1 FROM imagine_files WHERE user_id = p_user AND image_id = p_image) THEN
		RETURN 'ok';
	END IF;
	IF NOT p_temp AND COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0) + p_bytes > p_user_limit THEN
		RETURN 'USER_QUOTA';
	END IF;
	RETURN 'GLOBAL_QUOTA';
END $$;
`;

/**
 * Version 2: the places of providers' rate windows, shared by every host (Stability counts requests per key). The
 * claim counts and inserts under a lock of its key, on the server's clock, so hosts whose clocks differ agree.
 */
const V2 = `
CREATE TABLE imagine_rate_places (
	id TEXT PRIMARY KEY,
	key TEXT NOT NULL,
	claimed_at BIGINT NOT NULL,
	frees_at BIGINT
);
CREATE INDEX imagine_rate_places_by_key ON imagine_rate_places (key, frees_at);

CREATE FUNCTION imagine_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS $$
	SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
$$;

-- Grants a place (returns NULL) or says how many ms to wait before asking again.
CREATE FUNCTION imagine_claim_rate_place(p_id TEXT, p_key TEXT, p_limit INTEGER, p_window BIGINT, p_max_hold BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
	now_ms BIGINT;
	frees BIGINT;
BEGIN
	PERFORM pg_advisory_xact_lock(imagine_lock_key('rate:' || p_key));
	now_ms := imagine_now_ms();
	DELETE FROM imagine_rate_places
		WHERE key = p_key AND (frees_at <= now_ms OR (frees_at IS NULL AND claimed_at <= now_ms - p_max_hold));
	INSERT INTO imagine_rate_places (id, key, claimed_at, frees_at)
		SELECT p_id, p_key, now_ms, NULL
		WHERE (SELECT COUNT(*) FROM imagine_rate_places WHERE key = p_key) < p_limit
		ON CONFLICT (id) DO NOTHING;
	IF FOUND OR EXISTS (SELECT 1 FROM imagine_rate_places WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	SELECT MIN(frees_at) INTO frees FROM imagine_rate_places WHERE key = p_key AND frees_at IS NOT NULL;
	RETURN GREATEST(1, COALESCE(frees - now_ms, 200));
END $$;
`;

/**
 * Version 3: the bytes of all live reservations kept as a counter, so an admission (`imagine_reserve`, from version
 * 4 on) and a status read one row instead of summing every reservation: deleted reservations stay in the table as
 * dead rows until autovacuum comes (a minute or more), and a sum over them grows with every admission until then.
 * Reservations past their expiry still count in the counter until purged, so they are taken off through an index
 * on the expiry (usually none). The table is locked while the counter is seeded, so no reservation of a process
 * still on version 2 slips between the sum and the trigger.
 */
const V3 = `
LOCK TABLE imagine_reservations IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE imagine_reserved_totals (scope TEXT PRIMARY KEY, bytes BIGINT NOT NULL);
INSERT INTO imagine_reserved_totals (scope, bytes) SELECT 'global', COALESCE(SUM(bytes), 0) FROM imagine_reservations;
CREATE INDEX imagine_reservations_by_expiry ON imagine_reservations (expires_at);

CREATE FUNCTION imagine_reservations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE imagine_reserved_totals
		SET bytes = bytes + CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE NEW.bytes END - CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.bytes END
		WHERE scope = 'global';
	RETURN NULL;
END $$;
CREATE TRIGGER imagine_reservations_changed AFTER INSERT OR DELETE OR UPDATE OF bytes ON imagine_reservations
	FOR EACH ROW EXECUTE FUNCTION imagine_reservations_changed();

-- The bytes of the reservations live at p_now, everything included.
CREATE FUNCTION imagine_reserved_bytes(p_now BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
	SELECT (SELECT bytes FROM imagine_reserved_totals WHERE scope = 'global')
		- COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE expires_at <= p_now), 0)
$$;
`;

/**
 * Version 4: the owners' controls. The prompt blocklists and the blocked users (`guild_id` '' is the bot owner's,
 * bot-wide; a server id that server's own; `until` null: until lifted), each server's settings (its gates, its members'
 * daily limit; a list of ids as JSON, null for no restriction). A reservation says whether it is a generation
 * job and when it started generating, for the per-user job caps: `imagine_reserve` counts the user's jobs first, and
 * `imagine_start_job` lets a waiting job start, both under the admission lock. Written so that running it again changes
 * nothing.
 */
const V4 = `
CREATE TABLE IF NOT EXISTS imagine_blocklist (
	guild_id TEXT NOT NULL,
	entry TEXT NOT NULL,
	added_at BIGINT NOT NULL,
	PRIMARY KEY (guild_id, entry)
);
CREATE TABLE IF NOT EXISTS imagine_blocks (
	user_id TEXT NOT NULL,
	guild_id TEXT NOT NULL,
	reason TEXT,
	until BIGINT,
	blocked_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, guild_id)
);
CREATE TABLE IF NOT EXISTS imagine_guild_settings (
	guild_id TEXT PRIMARY KEY,
	enabled BOOLEAN NOT NULL DEFAULT TRUE,
	channel_ids TEXT,
	role_ids TEXT,
	member_daily_gens INTEGER,
	guild_daily_gens INTEGER
);
CREATE TABLE IF NOT EXISTS imagine_guild_daily (
	guild_id TEXT NOT NULL,
	day TEXT NOT NULL,
	used INTEGER NOT NULL,
	PRIMARY KEY (guild_id, day)
);
ALTER TABLE imagine_reservations ADD COLUMN IF NOT EXISTS guild_id TEXT;
ALTER TABLE imagine_reservations ADD COLUMN IF NOT EXISTS credits BIGINT NOT NULL DEFAULT 0;
ALTER TABLE imagine_files ADD COLUMN IF NOT EXISTS charge_guild TEXT;
ALTER TABLE imagine_files ADD COLUMN IF NOT EXISTS charge_credits BIGINT NOT NULL DEFAULT 0;
-- Provider credits spent per day, in milli-credits ('global' and 'u:<id>'), with the generations charged (a history for
-- the usage chart: the daily counts are pruned after a week), and the budgets set with the CLI.
CREATE TABLE IF NOT EXISTS imagine_credit_daily (
	scope TEXT NOT NULL,
	day TEXT NOT NULL,
	spent BIGINT NOT NULL,
	generations INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, day)
);
CREATE TABLE IF NOT EXISTS imagine_credit_budgets (
	scope TEXT PRIMARY KEY,
	milli BIGINT NOT NULL
);

-- A server's daily count is charged with the image, beside the user's (imagine_files_added).
CREATE OR REPLACE FUNCTION imagine_files_guild_charged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.charge_guild IS NOT NULL AND NEW.charge_cost > 0 AND NEW.charge_day IS NOT NULL THEN
		INSERT INTO imagine_guild_daily (guild_id, day, used) VALUES (NEW.charge_guild, NEW.charge_day, NEW.charge_cost)
			ON CONFLICT (guild_id, day) DO UPDATE SET used = imagine_guild_daily.used + EXCLUDED.used;
	END IF;
	IF NEW.charge_day IS NOT NULL AND (NEW.charge_credits > 0 OR NEW.charge_cost > 0) THEN
		INSERT INTO imagine_credit_daily (scope, day, spent, generations)
			VALUES ('global', NEW.charge_day, NEW.charge_credits, NEW.charge_cost), ('u:' || NEW.user_id, NEW.charge_day, NEW.charge_credits, NEW.charge_cost)
			ON CONFLICT (scope, day) DO UPDATE
			SET spent = imagine_credit_daily.spent + EXCLUDED.spent, generations = imagine_credit_daily.generations + EXCLUDED.generations;
	END IF;
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS imagine_files_guild_charged ON imagine_files;
CREATE TRIGGER imagine_files_guild_charged AFTER INSERT ON imagine_files FOR EACH ROW EXECUTE FUNCTION imagine_files_guild_charged();

DROP FUNCTION IF EXISTS imagine_commit(TEXT, TEXT, BOOLEAN, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT, TEXT, INTEGER, BIGINT, BIGINT);
-- As version 1's, recording the server the image was asked from (its daily total is charged by the trigger above).
CREATE OR REPLACE FUNCTION imagine_commit(
	p_user TEXT, p_image TEXT, p_temp BOOLEAN, p_ext TEXT, p_bytes BIGINT, p_created_at BIGINT, p_name TEXT, p_metadata TEXT,
	p_reservation TEXT, p_charge_day TEXT, p_charge_cost INTEGER, p_charge_guild TEXT, p_charge_credits BIGINT, p_user_limit BIGINT,
	p_global_limit BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(imagine_lock_key('admission'));
	INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata, reservation_id, charge_day, charge_cost, charge_guild, charge_credits)
		SELECT p_user, p_image, p_temp, p_ext, p_bytes, p_created_at, p_name, p_metadata, p_reservation, p_charge_day, p_charge_cost, p_charge_guild,
			p_charge_credits
		WHERE (p_temp OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0) + p_bytes <= p_user_limit)
			AND COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0) + p_bytes <= p_global_limit
		ON CONFLICT (user_id, image_id) DO NOTHING;
	IF FOUND OR EXISTS (SELECT 1 FROM imagine_files WHERE user_id = p_user AND image_id = p_image) THEN
		RETURN 'ok';
	END IF;
	IF NOT p_temp AND COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0) + p_bytes > p_user_limit THEN
		RETURN 'USER_QUOTA';
	END IF;
	RETURN 'GLOBAL_QUOTA';
END $$;
ALTER TABLE imagine_reservations ADD COLUMN IF NOT EXISTS job BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE imagine_reservations ADD COLUMN IF NOT EXISTS started_at BIGINT;

DROP FUNCTION IF EXISTS imagine_reserve(TEXT, TEXT, TEXT, BIGINT, INTEGER, BOOLEAN, BIGINT, BIGINT, TEXT, INTEGER, BIGINT, BIGINT);
-- As version 1's, with the user's job cap checked first (a plain save, p_job false, is not a job) and the server's daily
-- total after the user's daily limit.
CREATE OR REPLACE FUNCTION imagine_reserve(
	p_id TEXT, p_user TEXT, p_day TEXT, p_bytes BIGINT, p_cost INTEGER, p_temp BOOLEAN, p_job BOOLEAN, p_guild TEXT, p_credits BIGINT,
	p_now BIGINT, p_expires BIGINT, p_owner TEXT, p_job_limit BIGINT, p_daily_limit INTEGER, p_guild_limit BIGINT, p_user_limit BIGINT,
	p_global_limit BIGINT, p_global_credits BIGINT, p_user_credits BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
	jobs_fit BOOLEAN;
	daily_fits BOOLEAN;
	guild_fits BOOLEAN;
	user_fits BOOLEAN;
	global_fits BOOLEAN;
	credits_fit BOOLEAN;
BEGIN
	PERFORM pg_advisory_xact_lock(imagine_lock_key('admission'));
	jobs_fit := NOT p_job OR (SELECT COUNT(*) FROM imagine_reservations WHERE user_id = p_user AND job AND expires_at > p_now) < p_job_limit;
	daily_fits := p_cost = 0 OR COALESCE((SELECT used FROM imagine_daily WHERE user_id = p_user AND day = p_day), 0)
		+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE user_id = p_user AND day = p_day AND expires_at > p_now), 0)
		+ p_cost <= p_daily_limit;
	guild_fits := p_guild IS NULL OR p_cost = 0 OR COALESCE((SELECT used FROM imagine_guild_daily WHERE guild_id = p_guild AND day = p_day), 0)
		+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE guild_id = p_guild AND day = p_day AND expires_at > p_now), 0)
		+ p_cost <= p_guild_limit;
	user_fits := p_temp OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || p_user), 0)
		+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = p_user AND NOT temp AND expires_at > p_now), 0)
		+ p_bytes <= p_user_limit;
	global_fits := COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0)
		+ imagine_reserved_bytes(p_now) + p_bytes <= p_global_limit;
	credits_fit := p_credits = 0 OR (
		COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'global' AND day = p_day), 0)
			+ COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE day = p_day AND expires_at > p_now), 0) + p_credits <= p_global_credits
		AND COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'u:' || p_user AND day = p_day), 0)
			+ COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE user_id = p_user AND day = p_day AND expires_at > p_now), 0)
			+ p_credits <= p_user_credits);
	IF jobs_fit AND daily_fits AND guild_fits AND user_fits AND global_fits AND credits_fit THEN
		INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, job, guild_id, credits, created_at, expires_at, owner)
			VALUES (p_id, p_user, p_day, p_bytes, p_cost, p_temp, p_job, p_guild, p_credits, p_now, p_expires, p_owner)
			ON CONFLICT (id) DO NOTHING;
		RETURN 'ok';
	END IF;
	-- Held already (a retried call): once is enough.
	IF EXISTS (SELECT 1 FROM imagine_reservations WHERE id = p_id) THEN RETURN 'ok'; END IF;
	IF NOT jobs_fit THEN RETURN 'TOO_MANY_JOBS'; END IF;
	IF NOT daily_fits THEN RETURN 'DAILY_LIMIT'; END IF;
	IF NOT guild_fits THEN RETURN 'GUILD_DAILY'; END IF;
	IF NOT user_fits THEN RETURN 'USER_QUOTA'; END IF;
	IF NOT global_fits THEN RETURN 'GLOBAL_QUOTA'; END IF;
	RETURN 'CREDIT_BUDGET';
END $$;

-- Starts a waiting job when fewer than p_max of its user's jobs have started: returns 0 (started, or gone), else the
-- job's place among the user's waiting jobs (1: next).
CREATE OR REPLACE FUNCTION imagine_start_job(p_id TEXT, p_user TEXT, p_max INTEGER, p_now BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
	mine imagine_reservations%ROWTYPE;
BEGIN
	PERFORM pg_advisory_xact_lock(imagine_lock_key('admission'));
	SELECT * INTO mine FROM imagine_reservations WHERE id = p_id;
	IF NOT FOUND OR mine.started_at IS NOT NULL THEN RETURN 0; END IF;
	IF (SELECT COUNT(*) FROM imagine_reservations WHERE user_id = p_user AND job AND started_at IS NOT NULL AND expires_at > p_now) < p_max THEN
		UPDATE imagine_reservations SET started_at = p_now WHERE id = p_id;
		RETURN 0;
	END IF;
	RETURN 1 + (SELECT COUNT(*) FROM imagine_reservations w WHERE w.user_id = p_user AND w.job AND w.started_at IS NULL AND w.expires_at > p_now
		AND (w.created_at < mine.created_at OR (w.created_at = mine.created_at AND w.id < mine.id)));
END $$;
`;

/** Each entry takes the schema from version `index` to `index + 1`. */
/** Each entry takes the schema from version `index` to `index + 1`. */
export const POSTGRES_MIGRATIONS: readonly string[] = [V1, V2, V3, V4];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

/**
 * The version recorded in `imagine_meta`, or 0 when the table does not exist. The table is queried, never looked up
 * in the catalog: a catalog lookup (`to_regclass`) can answer from this session's stale cache after another host
 * created the table, while a query that names the table always resolves it afresh.
 */
export async function versionOf(client: PoolClient, inTransaction: boolean): Promise<number> {
	if (inTransaction) await client.query('SAVEPOINT imagine_version');
	try {
		const row = await client.query<{ value: string }>("SELECT value FROM imagine_meta WHERE key = 'schema_version'");
		if (inTransaction) await client.query('RELEASE SAVEPOINT imagine_version');
		return Number(row.rows[0]?.value ?? 0);
	} catch (error) {
		if ((error as { code?: unknown }).code !== '42P01') throw error; // undefined_table
		if (inTransaction) await client.query('ROLLBACK TO SAVEPOINT imagine_version');
		return 0;
	}
}

/** Brings the schema to the current version; returns the version found (0: new). A newer schema is refused. */
export async function migratePostgres(client: PoolClient): Promise<number> {
	const found = await versionOf(client, false);
	if (found === POSTGRES_SCHEMA_VERSION) return found;
	if (found > POSTGRES_SCHEMA_VERSION) {
		throw new Error(
			`The quota ledger has schema version ${found}, newer than this version of sapphire-imagine understands (${POSTGRES_SCHEMA_VERSION}): upgrade it.`
		);
	}
	await client.query('BEGIN');
	try {
		// A constant key (this function may not exist yet), scoped by schema name like every other lock.
		await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':imagine:migrate'))");
		const current = await versionOf(client, true);
		for (let version = current; version < POSTGRES_SCHEMA_VERSION; version++) await client.query(POSTGRES_MIGRATIONS[version] as string);
		await client.query(
			"INSERT INTO imagine_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
			[String(POSTGRES_SCHEMA_VERSION)]
		);
		await client.query('COMMIT');
	} catch (error) {
		await client.query('ROLLBACK').catch(() => undefined);
		throw error;
	}
	return found;
}
