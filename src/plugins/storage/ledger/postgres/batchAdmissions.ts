/**
 * Version 8 of the PostgreSQL schema: admissions in batches. `imagine_reserve_many` and `imagine_commit_many` take
 * any number of reservations or images (a JSON array) and admit them together, in one transaction: one flush to disk
 * and one update of each counter row for the whole batch, where one call per admission paid both for each. The
 * ledger sends what arrives while its connections are busy as one batch (see AdmissionBatcher.ts); alone, an
 * admission is a batch of one.
 *
 * A batch is all or nothing: every counter row it needs is changed set-based, in the lock order of version 5 (a
 * user's day, the user's totals, the server's day, the global totals, 'temp', then the credit days; several rows of
 * one table in key order), so batches never deadlock with each other or with anything else; then each item is checked
 * against its own limits on the rows it now holds. When one does not fit, the first such item's limit is raised
 * (IMQ01) and the whole call is undone: the ledger then sends each item of that batch again on its own, so a refusal
 * is decided exactly as for a single admission, in the order users are told (TOO_MANY_JOBS, DAILY_LIMIT,
 * GUILD_DAILY, USER_QUOTA, GLOBAL_QUOTA, CREDIT_BUDGET). If every item fits with all of them counted, each also fits
 * with only those before it, so a batch that passes admits exactly what the same calls one by one would.
 *
 * Both functions run on generic plans (`plan_cache_mode`): their statements take the batch as an array, and a plan
 * made for each call's array (PostgreSQL's choice when it estimates that cheaper) cost more to make than to run; every
 * row they read or change is found through its key either way.
 *
 * Idempotent per item, as before: a reservation held already or an image recorded already (a retried call) is not
 * counted again. The single-admission functions of versions 5 and 7 become batches of one, so a host still running
 * the previous release admits the same way until it is upgraded.
 */

/**
 * The shares of reservations past their expiry at p_now (what the counters still hold of them until they are purged),
 * for a user, a server and a day, through the index on expiry (usually nothing to read). SQL, one SELECT: PostgreSQL
 * inlines it into each statement that calls it (planned with that statement, once per connection), where the PL/pgSQL
 * function version 5 first created cost a function call each time. Version 5 creates this one now too.
 */
export const LAPSED = `
DROP FUNCTION IF EXISTS imagine_lapsed(TEXT, TEXT, TEXT, BIGINT);
CREATE FUNCTION imagine_lapsed(p_user TEXT, p_guild TEXT, p_day TEXT, p_now BIGINT) RETURNS TABLE (jobs BIGINT, daily BIGINT,
	guild_daily BIGINT, user_bytes BIGINT, global_bytes BIGINT, user_credits BIGINT, guild_credits BIGINT, global_credits BIGINT)
LANGUAGE sql STABLE AS $$
	SELECT COUNT(*) FILTER (WHERE user_id = p_user AND job),
		COALESCE(SUM(cost) FILTER (WHERE user_id = p_user AND day = p_day), 0),
		COALESCE(SUM(cost) FILTER (WHERE guild_id = p_guild AND day = p_day), 0),
		COALESCE(SUM(bytes) FILTER (WHERE user_id = p_user AND NOT temp), 0),
		COALESCE(SUM(bytes), 0),
		COALESCE(SUM(credits) FILTER (WHERE user_id = p_user AND day = p_day), 0),
		COALESCE(SUM(credits) FILTER (WHERE guild_id = p_guild AND day = p_day), 0),
		COALESCE(SUM(credits) FILTER (WHERE day = p_day), 0)
	FROM imagine_reservations WHERE expires_at <= p_now
$$;
`;

/**
 * A batch's items as rows, each once (by its key), with its place in the batch (`ord`): read from the JSON once per
 * call into an array of these types, which every statement of the call then unnests (where reading the JSON again in
 * each statement cost more than the statement's own work). A type is dropped with the functions that return it.
 */
const ITEMS = `
DROP TYPE IF EXISTS imagine_reserve_item CASCADE;
CREATE TYPE imagine_reserve_item AS (
	ord BIGINT, id TEXT, user_id TEXT, day TEXT, bytes BIGINT, cost INTEGER, temp BOOLEAN, job BOOLEAN, guild_id TEXT, credits BIGINT,
	now BIGINT, expires_at BIGINT, owner TEXT, job_limit BIGINT, daily_limit INTEGER, guild_limit BIGINT, user_limit BIGINT,
	global_limit BIGINT, global_credits BIGINT, user_credits BIGINT, guild_credits BIGINT
);
CREATE FUNCTION imagine_reserve_items(p_items JSONB) RETURNS SETOF imagine_reserve_item LANGUAGE sql IMMUTABLE AS $$
	SELECT DISTINCT ON (r.id) e.ord, r.* FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(item, ord),
		jsonb_to_record(e.item) AS r(id TEXT, user_id TEXT, day TEXT, bytes BIGINT, cost INTEGER, temp BOOLEAN, job BOOLEAN, guild_id TEXT,
			credits BIGINT, now BIGINT, expires_at BIGINT, owner TEXT, job_limit BIGINT, daily_limit INTEGER, guild_limit BIGINT,
			user_limit BIGINT, global_limit BIGINT, global_credits BIGINT, user_credits BIGINT, guild_credits BIGINT)
	ORDER BY r.id, e.ord
$$;

DROP TYPE IF EXISTS imagine_commit_item CASCADE;
CREATE TYPE imagine_commit_item AS (
	ord BIGINT, user_id TEXT, image_id TEXT, temp BOOLEAN, ext TEXT, bytes BIGINT, created_at BIGINT, name TEXT, metadata TEXT,
	reservation_id TEXT, charge_day TEXT, charge_cost INTEGER, charge_guild TEXT, charge_credits BIGINT, user_limit BIGINT,
	global_limit BIGINT
);
CREATE FUNCTION imagine_commit_items(p_items JSONB) RETURNS SETOF imagine_commit_item LANGUAGE sql IMMUTABLE AS $$
	SELECT DISTINCT ON (f.user_id, f.image_id) e.ord, f.* FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(item, ord),
		jsonb_to_record(e.item) AS f(user_id TEXT, image_id TEXT, temp BOOLEAN, ext TEXT, bytes BIGINT, created_at BIGINT, name TEXT,
			metadata TEXT, reservation_id TEXT, charge_day TEXT, charge_cost INTEGER, charge_guild TEXT, charge_credits BIGINT,
			user_limit BIGINT, global_limit BIGINT)
	ORDER BY f.user_id, f.image_id, e.ord
$$;

-- Each recorded image of a batch beside what its reservation held (none: zeros), as the counters are settled.
DROP TYPE IF EXISTS imagine_commit_share CASCADE;
CREATE TYPE imagine_commit_share AS (
	ord BIGINT, user_id TEXT, temp BOOLEAN, bytes BIGINT, guild_id TEXT, day TEXT, charge_cost INTEGER, credits BIGINT, user_limit BIGINT,
	global_limit BIGINT, held_cost INTEGER, held_bytes BIGINT, held_user_bytes BIGINT, held_job INTEGER, held_credits BIGINT
);
`;

/**
 * Reservations admitted together. Each item: the reservation's row (`id`, `user_id`, `day`, `bytes`, `cost`, `temp`,
 * `job`, `guild_id`, `credits`, `now`, `expires_at`, `owner`) and its limits (`job_limit`, `daily_limit`,
 * `guild_limit`, `user_limit`, `global_limit`, `global_credits`, `user_credits`, `guild_credits`).
 */
const RESERVE_MANY = `
CREATE OR REPLACE FUNCTION imagine_reserve_many(p_items JSONB) RETURNS VOID LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	items imagine_reserve_item[] := ARRAY(SELECT i FROM imagine_reserve_items(p_items) i);
	fresh imagine_reserve_item[];
	refused RECORD;
BEGIN
	WITH held AS (
		INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, job, guild_id, credits, created_at, expires_at, owner)
			SELECT i.id, i.user_id, i.day, i.bytes, i.cost, i.temp, i.job, i.guild_id, i.credits, i.now, i.expires_at, i.owner
			FROM unnest(items) i
			ON CONFLICT (id) DO NOTHING RETURNING id
	)
	SELECT array_agg(i) INTO fresh FROM unnest(items) i WHERE i.id IN (SELECT held.id FROM held);
	-- Held already (a retried call): once is enough.
	IF fresh IS NULL THEN RETURN; END IF;
	INSERT INTO imagine_daily AS d (user_id, day, used, held)
		SELECT i.user_id, i.day, 0, SUM(i.cost) FROM unnest(fresh) i WHERE i.cost > 0
		GROUP BY i.user_id, i.day ORDER BY i.user_id, i.day
		ON CONFLICT (user_id, day) DO UPDATE SET held = d.held + EXCLUDED.held;
	INSERT INTO imagine_totals AS t (scope, bytes, files, held_bytes, jobs)
		SELECT 'u:' || i.user_id, 0, 0, SUM(CASE WHEN i.temp THEN 0 ELSE i.bytes END), COUNT(*) FILTER (WHERE i.job)
		FROM unnest(fresh) i WHERE (NOT i.temp OR i.job)
		GROUP BY i.user_id ORDER BY 1
		ON CONFLICT (scope) DO UPDATE SET held_bytes = t.held_bytes + EXCLUDED.held_bytes, jobs = t.jobs + EXCLUDED.jobs;
	INSERT INTO imagine_guild_daily AS g (guild_id, day, used, held)
		SELECT i.guild_id, i.day, 0, SUM(i.cost) FROM unnest(fresh) i
		WHERE i.guild_id IS NOT NULL AND i.cost > 0
		GROUP BY i.guild_id, i.day ORDER BY i.guild_id, i.day
		ON CONFLICT (guild_id, day) DO UPDATE SET held = g.held + EXCLUDED.held;
	UPDATE imagine_totals SET held_bytes = held_bytes + (SELECT SUM(i.bytes) FROM unnest(fresh) i)
		WHERE scope = 'global';
	INSERT INTO imagine_credit_daily AS c (scope, day, spent, held)
		SELECT h.scope, h.day, 0, SUM(h.credits) FROM (
			SELECT 1 AS rank, 'u:' || i.user_id AS scope, i.day, i.credits FROM unnest(fresh) i
				WHERE i.credits > 0
			UNION ALL SELECT 2, 'g:' || i.guild_id, i.day, i.credits FROM unnest(fresh) i
				WHERE i.credits > 0 AND i.guild_id IS NOT NULL
			UNION ALL SELECT 3, 'global', i.day, i.credits FROM unnest(fresh) i WHERE i.credits > 0
		) h GROUP BY h.rank, h.scope, h.day ORDER BY h.rank, h.scope, h.day
		ON CONFLICT (scope, day) DO UPDATE SET held = c.held + EXCLUDED.held;
	-- Every row checked below is locked by this transaction now, so what it reads is the newest. Each is looked up by its
	-- key for each item (LATERAL … LIMIT 1): joined to the batch, the planner would scan the whole table for a few rows.
	SELECT checked.ord, checked.refusal INTO refused FROM (
		SELECT i.ord, CASE
			WHEN i.job AND t.jobs - l.jobs > i.job_limit THEN 'TOO_MANY_JOBS'
			WHEN i.cost > 0 AND d.used + d.held - l.daily > i.daily_limit THEN 'DAILY_LIMIT'
			WHEN i.guild_id IS NOT NULL AND i.cost > 0 AND g.used + g.held - l.guild_daily > i.guild_limit THEN 'GUILD_DAILY'
			WHEN NOT i.temp AND t.bytes + t.held_bytes - l.user_bytes > i.user_limit THEN 'USER_QUOTA'
			WHEN gl.bytes + gl.held_bytes - l.global_bytes > i.global_limit THEN 'GLOBAL_QUOTA'
			WHEN i.credits > 0 AND (cb.spent + cb.held - l.global_credits > i.global_credits OR cu.spent + cu.held - l.user_credits > i.user_credits
				OR (i.guild_id IS NOT NULL AND cg.spent + cg.held - l.guild_credits > i.guild_credits)) THEN 'CREDIT_BUDGET'
		END AS refusal
		FROM unnest(fresh) i
		CROSS JOIN (SELECT bytes, held_bytes FROM imagine_totals WHERE scope = 'global') gl
		LEFT JOIN LATERAL (SELECT used, held FROM imagine_daily WHERE user_id = i.user_id AND day = i.day LIMIT 1) d ON TRUE
		LEFT JOIN LATERAL (SELECT bytes, held_bytes, jobs FROM imagine_totals WHERE scope = 'u:' || i.user_id LIMIT 1) t ON TRUE
		LEFT JOIN LATERAL (SELECT used, held FROM imagine_guild_daily WHERE guild_id = i.guild_id AND day = i.day LIMIT 1) g ON TRUE
		LEFT JOIN LATERAL (SELECT spent, held FROM imagine_credit_daily WHERE scope = 'u:' || i.user_id AND day = i.day LIMIT 1) cu ON TRUE
		LEFT JOIN LATERAL (SELECT spent, held FROM imagine_credit_daily WHERE scope = 'g:' || i.guild_id AND day = i.day LIMIT 1) cg ON TRUE
		LEFT JOIN LATERAL (SELECT spent, held FROM imagine_credit_daily WHERE scope = 'global' AND day = i.day LIMIT 1) cb ON TRUE
		CROSS JOIN LATERAL imagine_lapsed(i.user_id, i.guild_id, i.day, i.now) l
	) checked WHERE checked.refusal IS NOT NULL ORDER BY checked.ord LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'IMQ01', MESSAGE = refused.refusal;
	END IF;
END $$;
`;

/**
 * Images recorded together, each ending its reservation. Each item: the image's row (`user_id`, `image_id`, `temp`,
 * `ext`, `bytes`, `created_at`, `name`, `metadata`), its charge (`reservation_id`, `charge_day`, `charge_cost`,
 * `charge_guild`, `charge_credits`: the reservation's own user, day and server, as the ledger always sends it) and its
 * limits (`user_limit`, `global_limit`: what is stored must still fit once the real size is known). The counters are
 * settled once per row (what the images store and are charged, less what their reservations held), so the triggers
 * stand aside for the insert and the delete (imagine.settling, set back before anything else runs).
 */
const COMMIT_MANY = `
CREATE OR REPLACE FUNCTION imagine_commit_many(p_items JSONB) RETURNS VOID LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	items imagine_commit_item[] := ARRAY(SELECT i FROM imagine_commit_items(p_items) i);
	fresh imagine_commit_item[];
	gone imagine_reservations[];
	-- The item that ends each reservation: the first to name it (two images of one batch may name the same one; done
	-- one by one, the second would find it gone).
	enders BIGINT[];
	shares imagine_commit_share[];
	wrong RECORD;
	refused RECORD;
BEGIN
	PERFORM set_config('imagine.settling', 'on', true);
	WITH recorded AS (
		INSERT INTO imagine_files (user_id, image_id, temp, ext, bytes, created_at, name, metadata, reservation_id, charge_day, charge_cost,
			charge_guild, charge_credits)
			SELECT i.user_id, i.image_id, i.temp, i.ext, i.bytes, i.created_at, i.name, i.metadata, i.reservation_id, i.charge_day, i.charge_cost,
				i.charge_guild, i.charge_credits
			FROM unnest(items) i
			ON CONFLICT (user_id, image_id) DO NOTHING RETURNING user_id, image_id
	)
	SELECT array_agg(i) INTO fresh FROM unnest(items) i WHERE (i.user_id, i.image_id) IN (SELECT recorded.user_id, recorded.image_id FROM recorded);
	IF fresh IS NULL THEN
		-- Recorded already (a retried call; its reservation went with it).
		PERFORM set_config('imagine.settling', '', true);
		RETURN;
	END IF;
	-- Their reservations, locked in key order first (a DELETE takes rows in whatever order it meets them).
	PERFORM 1 FROM imagine_reservations
		WHERE id IN (SELECT i.reservation_id FROM unnest(fresh) i) ORDER BY id FOR UPDATE;
	WITH ended AS (DELETE FROM imagine_reservations WHERE id IN (SELECT i.reservation_id FROM unnest(fresh) i) RETURNING *)
	SELECT array_agg(ended) INTO gone FROM ended;
	PERFORM set_config('imagine.settling', '', true);
	enders := ARRAY(SELECT DISTINCT ON (i.reservation_id) i.ord FROM unnest(fresh) i WHERE i.reservation_id IS NOT NULL
		ORDER BY i.reservation_id, i.ord);
	SELECT i.user_id AS image_user, i.charge_day, i.charge_guild INTO wrong
		FROM unnest(fresh) i JOIN unnest(gone) r ON r.id = i.reservation_id AND i.ord = ANY(enders)
		WHERE r.user_id IS DISTINCT FROM i.user_id OR r.day IS DISTINCT FROM i.charge_day OR r.guild_id IS DISTINCT FROM i.charge_guild
		LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'imagine_commit: the charge (user %, day %, server %) is not its reservation''s', wrong.image_user, wrong.charge_day,
			wrong.charge_guild;
	END IF;
	shares := ARRAY(
		SELECT ROW(i.ord, i.user_id, i.temp, i.bytes, i.charge_guild, COALESCE(i.charge_day, r.day),
			CASE WHEN i.charge_day IS NULL THEN 0 ELSE i.charge_cost END, i.charge_credits, i.user_limit, i.global_limit,
			COALESCE(r.cost, 0), COALESCE(r.bytes, 0), CASE WHEN r.temp THEN 0 ELSE COALESCE(r.bytes, 0) END,
			CASE WHEN r.job THEN 1 ELSE 0 END, COALESCE(r.credits, 0))::imagine_commit_share
		FROM unnest(fresh) i LEFT JOIN unnest(gone) r ON r.id = i.reservation_id AND i.ord = ANY(enders)
	);
	INSERT INTO imagine_daily AS d (user_id, day, used, held)
		SELECT s.user_id, s.day, SUM(s.charge_cost), -SUM(s.held_cost) FROM unnest(shares) s
		WHERE s.charge_cost > 0 OR s.held_cost > 0
		GROUP BY s.user_id, s.day ORDER BY s.user_id, s.day
		ON CONFLICT (user_id, day) DO UPDATE SET used = d.used + EXCLUDED.used, held = d.held + EXCLUDED.held;
	INSERT INTO imagine_totals AS t (scope, bytes, files, held_bytes, jobs)
		SELECT 'u:' || s.user_id, SUM(CASE WHEN s.temp THEN 0 ELSE s.bytes END), COUNT(*) FILTER (WHERE NOT s.temp), -SUM(s.held_user_bytes),
			-SUM(s.held_job)
		FROM unnest(shares) s WHERE NOT s.temp OR s.held_user_bytes > 0 OR s.held_job > 0
		GROUP BY s.user_id ORDER BY 1
		ON CONFLICT (scope) DO UPDATE
		SET bytes = t.bytes + EXCLUDED.bytes, files = t.files + EXCLUDED.files, held_bytes = t.held_bytes + EXCLUDED.held_bytes,
			jobs = t.jobs + EXCLUDED.jobs;
	INSERT INTO imagine_guild_daily AS g (guild_id, day, used, held)
		SELECT s.guild_id, s.day, SUM(s.charge_cost), -SUM(s.held_cost) FROM unnest(shares) s
		WHERE s.guild_id IS NOT NULL AND (s.charge_cost > 0 OR s.held_cost > 0)
		GROUP BY s.guild_id, s.day ORDER BY s.guild_id, s.day
		ON CONFLICT (guild_id, day) DO UPDATE SET used = g.used + EXCLUDED.used, held = g.held + EXCLUDED.held;
	UPDATE imagine_totals t SET bytes = t.bytes + a.bytes, files = t.files + a.files, held_bytes = t.held_bytes - a.held_bytes
		FROM (SELECT SUM(s.bytes) AS bytes, COUNT(*) AS files, SUM(s.held_bytes) AS held_bytes FROM unnest(shares) s) a
		WHERE t.scope = 'global';
	UPDATE imagine_totals t SET bytes = t.bytes + a.bytes, files = t.files + a.files
		FROM (SELECT SUM(s.bytes) AS bytes, COUNT(*) AS files FROM unnest(shares) s WHERE s.temp HAVING COUNT(*) > 0) a
		WHERE t.scope = 'temp';
	-- The credit days: the user's and the server's when credits move, the bot's also for the generations (the chart's
	-- history; a free job writes one row, not three).
	INSERT INTO imagine_credit_daily AS c (scope, day, spent, generations, held)
		SELECT h.scope, h.day, SUM(h.spent), SUM(h.generations), -SUM(h.held) FROM (
			SELECT 1 AS rank, 'u:' || s.user_id AS scope, s.day, s.credits AS spent, s.charge_cost AS generations, s.held_credits AS held
				FROM unnest(shares) s WHERE s.day IS NOT NULL AND (s.credits > 0 OR s.held_credits > 0)
			UNION ALL SELECT 2, 'g:' || s.guild_id, s.day, s.credits, s.charge_cost, s.held_credits
				FROM unnest(shares) s
				WHERE s.guild_id IS NOT NULL AND s.day IS NOT NULL AND (s.credits > 0 OR s.held_credits > 0)
			UNION ALL SELECT 3, 'global', s.day, s.credits, s.charge_cost, s.held_credits
				FROM unnest(shares) s
				WHERE s.day IS NOT NULL AND (s.credits > 0 OR s.held_credits > 0 OR s.charge_cost > 0)
		) h GROUP BY h.rank, h.scope, h.day ORDER BY h.rank, h.scope, h.day
		ON CONFLICT (scope, day) DO UPDATE
		SET spent = c.spent + EXCLUDED.spent, generations = c.generations + EXCLUDED.generations, held = c.held + EXCLUDED.held;
	SELECT checked.ord, checked.refusal INTO refused FROM (
		SELECT s.ord, CASE
			WHEN NOT s.temp AND u.bytes > s.user_limit THEN 'USER_QUOTA'
			WHEN gl.bytes > s.global_limit THEN 'GLOBAL_QUOTA'
		END AS refusal
		FROM unnest(shares) s
		CROSS JOIN (SELECT bytes FROM imagine_totals WHERE scope = 'global') gl
		LEFT JOIN LATERAL (SELECT bytes FROM imagine_totals WHERE scope = 'u:' || s.user_id LIMIT 1) u ON TRUE
	) checked WHERE checked.refusal IS NOT NULL ORDER BY checked.ord LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'IMQ01', MESSAGE = refused.refusal;
	END IF;
END $$;
`;

/** The single admissions of versions 5 and 7, for a host still on the previous release: a batch of one each. */
const SINGLES = `
CREATE OR REPLACE FUNCTION imagine_reserve(
	p_id TEXT, p_user TEXT, p_day TEXT, p_bytes BIGINT, p_cost INTEGER, p_temp BOOLEAN, p_job BOOLEAN, p_guild TEXT, p_credits BIGINT,
	p_now BIGINT, p_expires BIGINT, p_owner TEXT, p_job_limit BIGINT, p_daily_limit INTEGER, p_guild_limit BIGINT, p_user_limit BIGINT,
	p_global_limit BIGINT, p_global_credits BIGINT, p_user_credits BIGINT, p_guild_credits BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
	PERFORM imagine_reserve_many(jsonb_build_array(jsonb_build_object('id', p_id, 'user_id', p_user, 'day', p_day, 'bytes', p_bytes,
		'cost', p_cost, 'temp', p_temp, 'job', p_job, 'guild_id', p_guild, 'credits', p_credits, 'now', p_now, 'expires_at', p_expires,
		'owner', p_owner, 'job_limit', p_job_limit, 'daily_limit', p_daily_limit, 'guild_limit', p_guild_limit, 'user_limit', p_user_limit,
		'global_limit', p_global_limit, 'global_credits', p_global_credits, 'user_credits', p_user_credits, 'guild_credits', p_guild_credits)));
	RETURN 'ok';
END $$;

CREATE OR REPLACE FUNCTION imagine_commit(
	p_user TEXT, p_image TEXT, p_temp BOOLEAN, p_ext TEXT, p_bytes BIGINT, p_created_at BIGINT, p_name TEXT, p_metadata TEXT,
	p_reservation TEXT, p_charge_day TEXT, p_charge_cost INTEGER, p_charge_guild TEXT, p_charge_credits BIGINT, p_user_limit BIGINT,
	p_global_limit BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
	PERFORM imagine_commit_many(jsonb_build_array(jsonb_build_object('user_id', p_user, 'image_id', p_image, 'temp', p_temp, 'ext', p_ext,
		'bytes', p_bytes, 'created_at', p_created_at, 'name', p_name, 'metadata', p_metadata, 'reservation_id', p_reservation,
		'charge_day', p_charge_day, 'charge_cost', p_charge_cost, 'charge_guild', p_charge_guild, 'charge_credits', p_charge_credits,
		'user_limit', p_user_limit, 'global_limit', p_global_limit)));
	RETURN 'ok';
END $$;
`;

export const V8 = `${LAPSED}${ITEMS}${RESERVE_MANY}${COMMIT_MANY}${SINGLES}`;
