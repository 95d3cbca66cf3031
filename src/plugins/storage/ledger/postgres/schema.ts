import type { PoolClient } from 'pg';
import { LAPSED, V8 } from './batchAdmissions.js';

/**
 * The PostgreSQL ledger's schema, versioned in `imagine_meta` ('schema_version'). Opening a ledger at the current
 * version reads one row and writes nothing. Migrations run in one transaction under an advisory lock, so several
 * hosts starting at once migrate once: the others wait, then find the work done.
 *
 * Everything lives in the connection's current schema (`search_path`), so several bots, or tests, can share one
 * database in schemas of their own; advisory lock keys are derived from the schema name for the same reason.
 *
 * Why locks at all, when SQLite needs none: PostgreSQL runs `INSERT … SELECT … WHERE <fits>` on a snapshot taken
 * when the statement starts, so two admissions at the same moment would both see the same sums and both fit.
 * Versions 1 to 4 serialised every admission with one transaction-scoped advisory lock; from version 5 on an
 * admission adds its share to counter rows and reads the sums back from the same update, which locks the row and
 * sees its newest version (see V5). One round trip, one transaction, either way; from version 8 on, one for a whole
 * batch of admissions (batchAdmissions.ts).
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
 * `imagine_start_job`: starts a waiting job when fewer than p_max of its user's jobs have started and returns 0
 * (started, or gone), else the job's place among the user's waiting jobs (1: next). `lock` is what keeps two starts of
 * one user apart: the admission lock in version 4, the user's totals row from version 5 on.
 */
function startJobFunction(lock: string): string {
	return `CREATE OR REPLACE FUNCTION imagine_start_job(p_id TEXT, p_user TEXT, p_max INTEGER, p_now BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
	mine imagine_reservations%ROWTYPE;
BEGIN
	${lock}
	SELECT * INTO mine FROM imagine_reservations WHERE id = p_id;
	IF NOT FOUND OR mine.started_at IS NOT NULL THEN RETURN 0; END IF;
	IF (SELECT COUNT(*) FROM imagine_reservations WHERE user_id = p_user AND job AND started_at IS NOT NULL AND expires_at > p_now) < p_max THEN
		UPDATE imagine_reservations SET started_at = p_now WHERE id = p_id;
		RETURN 0;
	END IF;
	RETURN 1 + (SELECT COUNT(*) FROM imagine_reservations w WHERE w.user_id = p_user AND w.job AND w.started_at IS NULL AND w.expires_at > p_now
		AND (w.created_at < mine.created_at OR (w.created_at = mine.created_at AND w.id < mine.id)));
END $$;`;
}

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

${startJobFunction("PERFORM pg_advisory_xact_lock(imagine_lock_key('admission'));")}
`;

/*
 * The functions and triggers of the counters (version 5 on), in their current text: version 5 creates them and
 * version 7 replaces what version 5 first wrote. Every statement that changes several counter rows takes them in the
 * lock order of version 5 (see V5); several rows of one table are locked in key order first (`FOR UPDATE` over a
 * sorted select: an UPDATE … FROM takes rows in whatever order its join meets them).
 */

/**
 * Images recorded by reconcile (one statement, any number of rows; imagine_commit settles its own, charging the same
 * rows: the user's and the server's credit days when credits were spent, the bot's also for the generations).
 */
const FILES_ADDED = `
CREATE OR REPLACE FUNCTION imagine_files_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('imagine.settling', true) = 'on' THEN RETURN NULL; END IF;
	INSERT INTO imagine_daily AS d (user_id, day, used)
		SELECT user_id, charge_day, SUM(charge_cost) FROM added WHERE charge_cost > 0 AND charge_day IS NOT NULL
		GROUP BY user_id, charge_day ORDER BY user_id, charge_day
		ON CONFLICT (user_id, day) DO UPDATE SET used = d.used + EXCLUDED.used;
	INSERT INTO imagine_totals AS t (scope, bytes, files)
		SELECT 'u:' || user_id, SUM(bytes), COUNT(*) FROM added WHERE NOT temp GROUP BY user_id ORDER BY 1
		ON CONFLICT (scope) DO UPDATE SET bytes = t.bytes + EXCLUDED.bytes, files = t.files + EXCLUDED.files;
	INSERT INTO imagine_guild_daily AS g (guild_id, day, used)
		SELECT charge_guild, charge_day, SUM(charge_cost) FROM added WHERE charge_guild IS NOT NULL AND charge_cost > 0 AND charge_day IS NOT NULL
		GROUP BY charge_guild, charge_day ORDER BY charge_guild, charge_day
		ON CONFLICT (guild_id, day) DO UPDATE SET used = g.used + EXCLUDED.used;
	UPDATE imagine_totals t SET bytes = t.bytes + a.bytes, files = t.files + a.files
		FROM (SELECT SUM(bytes) AS bytes, COUNT(*) AS files FROM added HAVING COUNT(*) > 0) a WHERE t.scope = 'global';
	UPDATE imagine_totals t SET bytes = t.bytes + a.bytes, files = t.files + a.files
		FROM (SELECT SUM(bytes) AS bytes, COUNT(*) AS files FROM added WHERE temp HAVING COUNT(*) > 0) a WHERE t.scope = 'temp';
	INSERT INTO imagine_credit_daily AS c (scope, day, spent, generations)
		SELECT scope, day, SUM(spent), SUM(generations) FROM (
			SELECT 1 AS rank, 'u:' || user_id AS scope, charge_day AS day, charge_credits AS spent, charge_cost AS generations FROM added
				WHERE charge_day IS NOT NULL AND charge_credits > 0
			UNION ALL SELECT 2, 'g:' || charge_guild, charge_day, charge_credits, charge_cost FROM added
				WHERE charge_guild IS NOT NULL AND charge_day IS NOT NULL AND charge_credits > 0
			UNION ALL SELECT 3, 'global', charge_day, charge_credits, charge_cost FROM added
				WHERE charge_day IS NOT NULL AND (charge_credits > 0 OR charge_cost > 0)
		) charged GROUP BY rank, scope, day ORDER BY rank, scope, day
		ON CONFLICT (scope, day) DO UPDATE SET spent = c.spent + EXCLUDED.spent, generations = c.generations + EXCLUDED.generations;
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS imagine_files_added ON imagine_files;
CREATE TRIGGER imagine_files_added AFTER INSERT ON imagine_files REFERENCING NEW TABLE AS added
	FOR EACH STATEMENT EXECUTE FUNCTION imagine_files_added();
`;

/** Images removed (one, or a batch): their users' totals in key order, then the global and the 'temp' totals. */
const FILES_REMOVED = `
DROP TRIGGER IF EXISTS imagine_files_removed ON imagine_files;
CREATE OR REPLACE FUNCTION imagine_files_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM imagine_totals WHERE scope IN (SELECT 'u:' || user_id FROM removed WHERE NOT temp) ORDER BY scope FOR UPDATE;
	UPDATE imagine_totals t SET bytes = t.bytes - r.bytes, files = t.files - r.files
		FROM (SELECT 'u:' || user_id AS scope, SUM(bytes) AS bytes, COUNT(*) AS files FROM removed WHERE NOT temp GROUP BY user_id) r
		WHERE t.scope = r.scope;
	UPDATE imagine_totals t SET bytes = t.bytes - r.bytes, files = t.files - r.files
		FROM (SELECT SUM(bytes) AS bytes, COUNT(*) AS files FROM removed HAVING COUNT(*) > 0) r WHERE t.scope = 'global';
	UPDATE imagine_totals t SET bytes = t.bytes - r.bytes, files = t.files - r.files
		FROM (SELECT SUM(bytes) AS bytes, COUNT(*) AS files FROM removed WHERE temp HAVING COUNT(*) > 0) r WHERE t.scope = 'temp';
	RETURN NULL;
END $$;
CREATE TRIGGER imagine_files_removed AFTER DELETE ON imagine_files REFERENCING OLD TABLE AS removed
	FOR EACH STATEMENT EXECUTE FUNCTION imagine_files_removed();
`;

/**
 * Reservations gone (committed by hand, released, purged, their process closed): what they held comes off, in the
 * lock order. One row, the usual case, takes the short way.
 */
const RESERVATIONS_GONE = `
CREATE OR REPLACE FUNCTION imagine_reservations_gone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	one imagine_reservations%ROWTYPE;
	several BOOLEAN;
BEGIN
	IF current_setting('imagine.settling', true) = 'on' THEN RETURN NULL; END IF;
	SELECT COUNT(*) > 1 INTO several FROM (SELECT 1 FROM gone LIMIT 2) two;
	IF NOT several THEN
		SELECT * INTO one FROM gone;
		IF NOT FOUND THEN RETURN NULL; END IF;
		IF one.cost > 0 THEN
			UPDATE imagine_daily SET held = held - one.cost WHERE user_id = one.user_id AND day = one.day;
		END IF;
		IF NOT one.temp OR one.job THEN
			UPDATE imagine_totals SET held_bytes = held_bytes - CASE WHEN one.temp THEN 0 ELSE one.bytes END,
				jobs = jobs - CASE WHEN one.job THEN 1 ELSE 0 END
				WHERE scope = 'u:' || one.user_id;
		END IF;
		IF one.guild_id IS NOT NULL AND one.cost > 0 THEN
			UPDATE imagine_guild_daily SET held = held - one.cost WHERE guild_id = one.guild_id AND day = one.day;
		END IF;
		UPDATE imagine_totals SET held_bytes = held_bytes - one.bytes WHERE scope = 'global';
		IF one.credits > 0 THEN
			UPDATE imagine_credit_daily SET held = held - one.credits WHERE scope = 'u:' || one.user_id AND day = one.day;
			IF one.guild_id IS NOT NULL THEN
				UPDATE imagine_credit_daily SET held = held - one.credits WHERE scope = 'g:' || one.guild_id AND day = one.day;
			END IF;
			UPDATE imagine_credit_daily SET held = held - one.credits WHERE scope = 'global' AND day = one.day;
		END IF;
		RETURN NULL;
	END IF;
	PERFORM 1 FROM imagine_daily WHERE (user_id, day) IN (SELECT user_id, day FROM gone WHERE cost > 0) ORDER BY user_id, day FOR UPDATE;
	UPDATE imagine_daily d SET held = d.held - g.cost
		FROM (SELECT user_id, day, SUM(cost) AS cost FROM gone WHERE cost > 0 GROUP BY user_id, day) g
		WHERE d.user_id = g.user_id AND d.day = g.day;
	PERFORM 1 FROM imagine_totals WHERE scope IN (SELECT 'u:' || user_id FROM gone) ORDER BY scope FOR UPDATE;
	UPDATE imagine_totals t SET held_bytes = t.held_bytes - g.bytes, jobs = t.jobs - g.jobs
		FROM (SELECT 'u:' || user_id AS scope, COALESCE(SUM(bytes) FILTER (WHERE NOT temp), 0) AS bytes, COUNT(*) FILTER (WHERE job) AS jobs
			FROM gone GROUP BY user_id) g
		WHERE t.scope = g.scope;
	PERFORM 1 FROM imagine_guild_daily WHERE (guild_id, day) IN (SELECT guild_id, day FROM gone WHERE cost > 0 AND guild_id IS NOT NULL)
		ORDER BY guild_id, day FOR UPDATE;
	UPDATE imagine_guild_daily d SET held = d.held - g.cost
		FROM (SELECT guild_id, day, SUM(cost) AS cost FROM gone WHERE cost > 0 AND guild_id IS NOT NULL GROUP BY guild_id, day) g
		WHERE d.guild_id = g.guild_id AND d.day = g.day;
	UPDATE imagine_totals SET held_bytes = held_bytes - (SELECT SUM(bytes) FROM gone) WHERE scope = 'global';
	PERFORM 1 FROM imagine_credit_daily
		WHERE (scope, day) IN (
			SELECT 'u:' || user_id, day FROM gone WHERE credits > 0
			UNION SELECT 'g:' || guild_id, day FROM gone WHERE credits > 0 AND guild_id IS NOT NULL
			UNION SELECT 'global', day FROM gone WHERE credits > 0
		)
		ORDER BY CASE WHEN scope LIKE 'u:%' THEN 1 WHEN scope LIKE 'g:%' THEN 2 ELSE 3 END, scope, day FOR UPDATE;
	UPDATE imagine_credit_daily c SET held = c.held - g.credits
		FROM (
			SELECT scope, day, SUM(credits) AS credits FROM (
				SELECT 'u:' || user_id AS scope, day, credits FROM gone WHERE credits > 0
				UNION ALL SELECT 'g:' || guild_id, day, credits FROM gone WHERE credits > 0 AND guild_id IS NOT NULL
				UNION ALL SELECT 'global', day, credits FROM gone WHERE credits > 0
			) held GROUP BY scope, day
		) g
		WHERE c.scope = g.scope AND c.day = g.day;
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS imagine_reservations_gone ON imagine_reservations;
CREATE TRIGGER imagine_reservations_gone AFTER DELETE ON imagine_reservations REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION imagine_reservations_gone();
`;

/**
 * Records a stored image when its real size fits what is stored, and ends its reservation. It settles the counters
 * itself, one update per row (what the image stores and is charged, less what the reservation held), in the lock
 * order, so the triggers stand aside for its two statements (imagine.settling, set back before anything else runs).
 * Returns 'ok'; a size that does not fit raises IMQ01 with the limit, undoing it all. Idempotent on the image. The
 * charge is the reservation's own (its user, day and server), as the ledger always sends it.
 */
const COMMIT = `
CREATE OR REPLACE FUNCTION imagine_commit(
	p_user TEXT, p_image TEXT, p_temp BOOLEAN, p_ext TEXT, p_bytes BIGINT, p_created_at BIGINT, p_name TEXT, p_metadata TEXT,
	p_reservation TEXT, p_charge_day TEXT, p_charge_cost INTEGER, p_charge_guild TEXT, p_charge_credits BIGINT, p_user_limit BIGINT,
	p_global_limit BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
	held imagine_reservations%ROWTYPE;
	held_cost INTEGER := 0;
	held_user_bytes BIGINT := 0;
	held_job INTEGER := 0;
	held_credits BIGINT := 0;
	charge_cost INTEGER := CASE WHEN p_charge_day IS NULL THEN 0 ELSE p_charge_cost END;
	charge_day TEXT;
	user_bytes BIGINT;
	global_bytes BIGINT;
BEGIN
	PERFORM set_config('imagine.settling', 'on', true);
	INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata, reservation_id, charge_day, charge_cost, charge_guild, charge_credits)
		VALUES (p_user, p_image, p_temp, p_ext, p_bytes, p_created_at, p_name, p_metadata, p_reservation, p_charge_day, p_charge_cost, p_charge_guild,
			p_charge_credits)
		ON CONFLICT (user_id, image_id) DO NOTHING;
	IF NOT FOUND THEN
		-- Recorded already (a retried call; its reservation went with it).
		PERFORM set_config('imagine.settling', '', true);
		RETURN 'ok';
	END IF;
	IF p_reservation IS NOT NULL THEN
		DELETE FROM imagine_reservations WHERE id = p_reservation RETURNING * INTO held;
	END IF;
	PERFORM set_config('imagine.settling', '', true);
	IF held.id IS NOT NULL THEN
		IF held.user_id IS DISTINCT FROM p_user OR held.day IS DISTINCT FROM p_charge_day OR held.guild_id IS DISTINCT FROM p_charge_guild THEN
			RAISE EXCEPTION 'imagine_commit: the charge (user %, day %, server %) is not its reservation''s', p_user, p_charge_day, p_charge_guild;
		END IF;
		held_cost := held.cost;
		held_user_bytes := CASE WHEN held.temp THEN 0 ELSE held.bytes END;
		held_job := CASE WHEN held.job THEN 1 ELSE 0 END;
		held_credits := held.credits;
	END IF;
	charge_day := COALESCE(p_charge_day, held.day);
	IF charge_cost > 0 OR held_cost > 0 THEN
		INSERT INTO imagine_daily AS d (user_id, day, used, held) VALUES (p_user, charge_day, charge_cost, -held_cost)
			ON CONFLICT (user_id, day) DO UPDATE SET used = d.used + EXCLUDED.used, held = d.held + EXCLUDED.held;
	END IF;
	IF NOT p_temp OR held_user_bytes > 0 OR held_job > 0 THEN
		INSERT INTO imagine_totals AS t (scope, bytes, files, held_bytes, jobs)
			VALUES ('u:' || p_user, CASE WHEN p_temp THEN 0 ELSE p_bytes END, CASE WHEN p_temp THEN 0 ELSE 1 END, -held_user_bytes, -held_job)
			ON CONFLICT (scope) DO UPDATE
			SET bytes = t.bytes + EXCLUDED.bytes, files = t.files + EXCLUDED.files, held_bytes = t.held_bytes + EXCLUDED.held_bytes, jobs = t.jobs + EXCLUDED.jobs
			RETURNING t.bytes INTO user_bytes;
	END IF;
	IF p_charge_guild IS NOT NULL AND (charge_cost > 0 OR held_cost > 0) THEN
		INSERT INTO imagine_guild_daily AS g (guild_id, day, used, held) VALUES (p_charge_guild, charge_day, charge_cost, -held_cost)
			ON CONFLICT (guild_id, day) DO UPDATE SET used = g.used + EXCLUDED.used, held = g.held + EXCLUDED.held;
	END IF;
	UPDATE imagine_totals SET bytes = bytes + p_bytes, files = files + 1, held_bytes = held_bytes - COALESCE(held.bytes, 0)
		WHERE scope = 'global' RETURNING bytes INTO global_bytes;
	IF p_temp THEN
		UPDATE imagine_totals SET bytes = bytes + p_bytes, files = files + 1 WHERE scope = 'temp';
	END IF;
	-- The credit days: the user's and the server's when credits move, the bot's also for the generations (the chart's
	-- history; a free job writes one row, not three).
	IF charge_day IS NOT NULL AND (p_charge_credits > 0 OR held_credits > 0 OR charge_cost > 0) THEN
		INSERT INTO imagine_credit_daily AS c (scope, day, spent, generations, held)
			SELECT s.scope, charge_day, p_charge_credits, charge_cost, -held_credits
			FROM (VALUES (1, 'u:' || p_user), (2, 'g:' || p_charge_guild), (3, 'global')) AS s(rank, scope)
			WHERE s.scope IS NOT NULL AND (s.rank = 3 OR p_charge_credits > 0 OR held_credits > 0) ORDER BY s.rank
			ON CONFLICT (scope, day) DO UPDATE
			SET spent = c.spent + EXCLUDED.spent, generations = c.generations + EXCLUDED.generations, held = c.held + EXCLUDED.held;
	END IF;
	IF NOT p_temp AND user_bytes > p_user_limit THEN
		RAISE EXCEPTION USING ERRCODE = 'IMQ01', MESSAGE = 'USER_QUOTA';
	END IF;
	IF global_bytes > p_global_limit THEN
		RAISE EXCEPTION USING ERRCODE = 'IMQ01', MESSAGE = 'GLOBAL_QUOTA';
	END IF;
	RETURN 'ok';
END $$;
`;

/** From version 5 on, a job's start takes its own reservation row first, as its commit or release does, then the user's totals. */
const START_JOB = startJobFunction(
	"PERFORM 1 FROM imagine_reservations WHERE id = p_id FOR UPDATE;\n\tPERFORM 1 FROM imagine_totals WHERE scope = 'u:' || p_user FOR UPDATE;"
);

/**
 * Version 5: admissions without a lock shared by every admission. What live reservations hold is kept as counters
 * on the rows an admission checks anyway, next to what is stored or charged: `held` on a user's and a server's day
 * (generations) and on each credit day (milli-credits), `held_bytes` and `jobs` on a user's totals and `held_bytes` on
 * the global row. `imagine_reserve` adds to them and reads the sums back in the same statements (an upsert locks its
 * row and returns its newest version), so two admissions for one user queue on that user's rows and only meet on the
 * global row, for the length of one update and the commit; a refused one rolls its additions back. A reservation
 * leaving the table, however it leaves (commit, release, purge), takes its share off through a statement trigger.
 *
 * Deadlocks are avoided by one lock order, kept by every statement that changes several of these rows: a user's day,
 * the user's totals, the server's day, the global totals, the 'temp' totals, then the credit days (the user's, the
 * server's, the bot's); several rows of one table in key order.
 *
 * A reservation past its expiry still counts in a counter until it is purged: admissions and reads take the expired
 * ones off through the index on expiry (usually nothing to read), after the counters they correct are locked, so a
 * purge running at the same time is either seen whole or waits.
 *
 * The per-server credit budget comes with it: a server's credit day is 'g:<id>' in imagine_credit_daily.
 */
const V5 = `
-- Admissions of processes still on version 4 take this lock first: wait for those in flight, hold back the others.
SELECT pg_advisory_xact_lock(imagine_lock_key('admission'));
LOCK TABLE imagine_reservations IN SHARE ROW EXCLUSIVE MODE;
DROP TRIGGER IF EXISTS imagine_reservations_changed ON imagine_reservations;
DROP FUNCTION IF EXISTS imagine_reservations_changed();
DROP FUNCTION IF EXISTS imagine_reserved_bytes(BIGINT);
DROP TABLE IF EXISTS imagine_reserved_totals;
DROP TRIGGER IF EXISTS imagine_files_guild_charged ON imagine_files;
DROP FUNCTION IF EXISTS imagine_files_guild_charged();

ALTER TABLE imagine_totals ADD COLUMN IF NOT EXISTS held_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE imagine_totals ADD COLUMN IF NOT EXISTS jobs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imagine_daily ADD COLUMN IF NOT EXISTS held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imagine_guild_daily ADD COLUMN IF NOT EXISTS held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imagine_credit_daily ADD COLUMN IF NOT EXISTS held BIGINT NOT NULL DEFAULT 0;

-- Seeded from the reservations in flight (the table is locked: none comes or goes meanwhile).
UPDATE imagine_totals SET held_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM imagine_reservations) WHERE scope = 'global';
INSERT INTO imagine_totals AS t (scope, bytes, files, held_bytes, jobs)
	SELECT 'u:' || user_id, 0, 0, COALESCE(SUM(bytes) FILTER (WHERE NOT temp), 0), COUNT(*) FILTER (WHERE job) FROM imagine_reservations GROUP BY user_id
	ON CONFLICT (scope) DO UPDATE SET held_bytes = EXCLUDED.held_bytes, jobs = EXCLUDED.jobs;
INSERT INTO imagine_daily AS d (user_id, day, used, held)
	SELECT user_id, day, 0, SUM(cost) FROM imagine_reservations WHERE cost > 0 GROUP BY user_id, day
	ON CONFLICT (user_id, day) DO UPDATE SET held = EXCLUDED.held;
INSERT INTO imagine_guild_daily AS g (guild_id, day, used, held)
	SELECT guild_id, day, 0, SUM(cost) FROM imagine_reservations WHERE cost > 0 AND guild_id IS NOT NULL GROUP BY guild_id, day
	ON CONFLICT (guild_id, day) DO UPDATE SET held = EXCLUDED.held;
INSERT INTO imagine_credit_daily AS c (scope, day, spent, held)
	SELECT scope, day, 0, SUM(credits) FROM (
		SELECT 'u:' || user_id AS scope, day, credits FROM imagine_reservations WHERE credits > 0
		UNION ALL SELECT 'g:' || guild_id, day, credits FROM imagine_reservations WHERE credits > 0 AND guild_id IS NOT NULL
		UNION ALL SELECT 'global', day, credits FROM imagine_reservations WHERE credits > 0
	) held GROUP BY scope, day
	ON CONFLICT (scope, day) DO UPDATE SET held = EXCLUDED.held;

${FILES_ADDED}
${FILES_REMOVED}
${RESERVATIONS_GONE}
${LAPSED}
DROP FUNCTION IF EXISTS imagine_reserve(TEXT, TEXT, TEXT, BIGINT, INTEGER, BOOLEAN, BOOLEAN, TEXT, BIGINT, BIGINT, BIGINT, TEXT, BIGINT,
	INTEGER, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT);
-- Admits a reservation when every limit still fits, counting what live reservations hold; returns 'ok' or the first
-- limit that does not fit, in the order users are told: TOO_MANY_JOBS, DAILY_LIMIT, GUILD_DAILY, USER_QUOTA,
-- GLOBAL_QUOTA, CREDIT_BUDGET. Idempotent on the reservation id.
CREATE OR REPLACE FUNCTION imagine_reserve(
	p_id TEXT, p_user TEXT, p_day TEXT, p_bytes BIGINT, p_cost INTEGER, p_temp BOOLEAN, p_job BOOLEAN, p_guild TEXT, p_credits BIGINT,
	p_now BIGINT, p_expires BIGINT, p_owner TEXT, p_job_limit BIGINT, p_daily_limit INTEGER, p_guild_limit BIGINT, p_user_limit BIGINT,
	p_global_limit BIGINT, p_global_credits BIGINT, p_user_credits BIGINT, p_guild_credits BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
	daily BIGINT := 0;
	user_bytes BIGINT := 0;
	jobs BIGINT := 0;
	guild_daily BIGINT := 0;
	global_bytes BIGINT;
	user_credits BIGINT := 0;
	guild_credits BIGINT := 0;
	global_credits BIGINT := 0;
	lapsed RECORD;
	refusal TEXT;
BEGIN
	INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, job, guild_id, credits, created_at, expires_at, owner)
		VALUES (p_id, p_user, p_day, p_bytes, p_cost, p_temp, p_job, p_guild, p_credits, p_now, p_expires, p_owner)
		ON CONFLICT (id) DO NOTHING;
	-- Held already (a retried call): once is enough.
	IF NOT FOUND THEN RETURN 'ok'; END IF;
	IF p_cost > 0 THEN
		INSERT INTO imagine_daily AS d (user_id, day, used, held) VALUES (p_user, p_day, 0, p_cost)
			ON CONFLICT (user_id, day) DO UPDATE SET held = d.held + EXCLUDED.held
			RETURNING d.used + d.held INTO daily;
	END IF;
	IF NOT p_temp OR p_job THEN
		INSERT INTO imagine_totals AS t (scope, bytes, files, held_bytes, jobs)
			VALUES ('u:' || p_user, 0, 0, CASE WHEN p_temp THEN 0 ELSE p_bytes END, CASE WHEN p_job THEN 1 ELSE 0 END)
			ON CONFLICT (scope) DO UPDATE SET held_bytes = t.held_bytes + EXCLUDED.held_bytes, jobs = t.jobs + EXCLUDED.jobs
			RETURNING t.bytes + t.held_bytes, t.jobs INTO user_bytes, jobs;
	END IF;
	IF p_guild IS NOT NULL AND p_cost > 0 THEN
		INSERT INTO imagine_guild_daily AS g (guild_id, day, used, held) VALUES (p_guild, p_day, 0, p_cost)
			ON CONFLICT (guild_id, day) DO UPDATE SET held = g.held + EXCLUDED.held
			RETURNING g.used + g.held INTO guild_daily;
	END IF;
	UPDATE imagine_totals SET held_bytes = held_bytes + p_bytes WHERE scope = 'global' RETURNING bytes + held_bytes INTO global_bytes;
	IF p_credits > 0 THEN
		INSERT INTO imagine_credit_daily AS c (scope, day, spent, held) VALUES ('u:' || p_user, p_day, 0, p_credits)
			ON CONFLICT (scope, day) DO UPDATE SET held = c.held + EXCLUDED.held RETURNING c.spent + c.held INTO user_credits;
		IF p_guild IS NOT NULL THEN
			INSERT INTO imagine_credit_daily AS c (scope, day, spent, held) VALUES ('g:' || p_guild, p_day, 0, p_credits)
				ON CONFLICT (scope, day) DO UPDATE SET held = c.held + EXCLUDED.held RETURNING c.spent + c.held INTO guild_credits;
		END IF;
		INSERT INTO imagine_credit_daily AS c (scope, day, spent, held) VALUES ('global', p_day, 0, p_credits)
			ON CONFLICT (scope, day) DO UPDATE SET held = c.held + EXCLUDED.held RETURNING c.spent + c.held INTO global_credits;
	END IF;
	SELECT * INTO lapsed FROM imagine_lapsed(p_user, p_guild, p_day, p_now);
	refusal := CASE
		WHEN p_job AND jobs - lapsed.jobs > p_job_limit THEN 'TOO_MANY_JOBS'
		WHEN p_cost > 0 AND daily - lapsed.daily > p_daily_limit THEN 'DAILY_LIMIT'
		WHEN p_guild IS NOT NULL AND p_cost > 0 AND guild_daily - lapsed.guild_daily > p_guild_limit THEN 'GUILD_DAILY'
		WHEN NOT p_temp AND user_bytes - lapsed.user_bytes > p_user_limit THEN 'USER_QUOTA'
		WHEN global_bytes - lapsed.global_bytes > p_global_limit THEN 'GLOBAL_QUOTA'
		WHEN p_credits > 0 AND (global_credits - lapsed.global_credits > p_global_credits OR user_credits - lapsed.user_credits > p_user_credits
			OR (p_guild IS NOT NULL AND guild_credits - lapsed.guild_credits > p_guild_credits)) THEN 'CREDIT_BUDGET'
	END;
	IF refusal IS NULL THEN RETURN 'ok'; END IF;
	-- Refused: the whole call is undone (the caller reads the reason from the error).
	RAISE EXCEPTION USING ERRCODE = 'IMQ01', MESSAGE = refusal;
END $$;

${COMMIT}
${START_JOB}
`;

/**
 * Version 6: whether a server's age-restricted (NSFW) channels use the laxer setting (off for every server already
 * set). Running it again changes nothing.
 */
const V6 = `
ALTER TABLE imagine_guild_settings ADD COLUMN IF NOT EXISTS nsfw_lax BOOLEAN NOT NULL DEFAULT FALSE;
`;

/**
 * Version 7: the counters' functions and triggers of version 5 rewritten to take their rows in the lock order in
 * every case (images recorded in batches by reconcile, several reservations gone at once, a job's start beside its
 * release, the credit days of one reservation), and a commit of an image recorded already no longer leaves the
 * triggers standing aside for the rest of its transaction.
 */
const V7 = `${FILES_ADDED}${FILES_REMOVED}${RESERVATIONS_GONE}${COMMIT}${START_JOB}`;

/** Each entry takes the schema from version `index` to `index + 1`. */
export const POSTGRES_MIGRATIONS: readonly string[] = [V1, V2, V3, V4, V5, V6, V7, V8];

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
