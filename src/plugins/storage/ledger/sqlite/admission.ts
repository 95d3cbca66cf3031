/**
 * The SQL that guards the limits, shared by the statements that admit and the ones that explain a refusal.
 * Parameters are named: `$user`, `$day`, `$bytes`, `$cost`, `$temp`, `$job`, `$guild`, `$now`, and the limits `$jobLimit`,
 * `$dailyLimit`, `$guildLimit`, `$userLimit`, `$globalLimit`, `$globalCredits`, `$userCredits`, `$guildCredits`.
 */

const LIVE = 'expires_at > $now';

/** A job fits when fewer than the user's job cap of their jobs are admitted (generating or waiting); a plain save always fits. */
export const FITS_JOBS = `($job = 0 OR (SELECT COUNT(*) FROM imagine_reservations WHERE user_id = $user AND job = 1 AND ${LIVE}) < $jobLimit)`;

/** Today's count plus live reservations plus this job's cost stays within the daily limit (a job costing 0 always fits). */
export const FITS_DAILY = `($cost = 0 OR COALESCE((SELECT used FROM imagine_daily WHERE user_id = $user AND day = $day), 0)
	+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE user_id = $user AND day = $day AND ${LIVE}), 0) + $cost <= $dailyLimit)`;

/** The server's count today plus its live reservations plus this job's cost stays within its daily total. */
export const FITS_GUILD = `($guild IS NULL OR $cost = 0 OR COALESCE((SELECT used FROM imagine_guild_daily WHERE guild_id = $guild AND day = $day), 0)
	+ COALESCE((SELECT SUM(cost) FROM imagine_reservations WHERE guild_id = $guild AND day = $day AND ${LIVE}), 0) + $cost <= $guildLimit)`;

/**
 * The credits spent today plus those held by live reservations plus this job's stay within the bot's, the user's
 * and, for a job asked from a server, that server's daily budgets (milli-credits; a job costing none always fits).
 */
export const FITS_CREDITS = `($credits = 0 OR (
	COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'global' AND day = $day), 0)
		+ COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE day = $day AND ${LIVE}), 0) + $credits <= $globalCredits
	AND COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'u:' || $user AND day = $day), 0)
		+ COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE user_id = $user AND day = $day AND ${LIVE}), 0) + $credits <= $userCredits
	AND ($guild IS NULL OR COALESCE((SELECT spent FROM imagine_credit_daily WHERE scope = 'g:' || $guild AND day = $day), 0)
		+ COALESCE((SELECT SUM(credits) FROM imagine_reservations WHERE guild_id = $guild AND day = $day AND ${LIVE}), 0) + $credits <= $guildCredits)))`;

/** The user's stored bytes plus live reservations plus this job's bytes stay within the user's cap (temp files do not count). */
export const FITS_USER = `($temp = 1 OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || $user), 0)
	+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = $user AND temp = 0 AND ${LIVE}), 0) + $bytes <= $userLimit)`;

/** Everything stored plus every live reservation plus this job's bytes stays within the global cap. */
export const FITS_GLOBAL = `(COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0)
	+ COALESCE((SELECT SUM(bytes) FROM imagine_reservations WHERE ${LIVE}), 0) + $bytes <= $globalLimit)`;

/*
 * At commit the real size is checked against what is stored, not against other jobs' reservations: the
 * generation is paid for already, and reservations only gate admission. An image larger than its estimate
 * then still commits when the store has room; the caps on stored bytes hold either way.
 */
export const STORED_FITS_USER = `($temp = 1 OR COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'u:' || $user), 0) + $bytes <= $userLimit)`;
export const STORED_FITS_GLOBAL = `(COALESCE((SELECT bytes FROM imagine_totals WHERE scope = 'global'), 0) + $bytes <= $globalLimit)`;

export const RESERVE = `INSERT INTO imagine_reservations (id, user_id, day, bytes, cost, temp, job, guild_id, credits, created_at, expires_at, owner)
	SELECT $id, $user, $day, $bytes, $cost, $temp, $job, $guild, $credits, $now, $expiresAt, $owner
	WHERE ${FITS_JOBS} AND ${FITS_DAILY} AND ${FITS_GUILD} AND ${FITS_USER} AND ${FITS_GLOBAL} AND ${FITS_CREDITS}
	ON CONFLICT (id) DO NOTHING
	RETURNING id`;

export const RESERVE_CHECKS = `SELECT ${FITS_JOBS} AS jobs, ${FITS_DAILY} AS daily, ${FITS_GUILD} AS guild, ${FITS_CREDITS} AS credits, ${FITS_USER} AS user, ${FITS_GLOBAL} AS global,
	EXISTS (SELECT 1 FROM imagine_reservations WHERE id = $id) AS held`;

export const FILE_COLUMNS = 'user_id, image_id, temp, ext, bytes, created_at, name, metadata, reservation_id, charge_day, charge_cost';

export const COMMIT = `INSERT INTO imagine_files (${FILE_COLUMNS}, charge_guild, charge_credits)
	SELECT $user, $image, $temp, $ext, $bytes, $createdAt, $name, $metadata, NULLIF($reservation, ''), $chargeDay, $chargeCost, $chargeGuild, $chargeCredits
	WHERE ${STORED_FITS_USER} AND ${STORED_FITS_GLOBAL}
	ON CONFLICT (user_id, image_id) DO NOTHING
	RETURNING image_id`;

export const COMMIT_CHECKS = `SELECT ${STORED_FITS_USER} AS user, ${STORED_FITS_GLOBAL} AS global,
	EXISTS (SELECT 1 FROM imagine_files WHERE user_id = $user AND image_id = $image) AS committed`;

export const USAGE = `SELECT
	(SELECT bytes FROM imagine_totals WHERE scope = 'global') AS globalBytes,
	(SELECT files FROM imagine_totals WHERE scope = 'global') AS globalFiles,
	(SELECT bytes FROM imagine_totals WHERE scope = 'temp') AS tempBytes,
	(SELECT files FROM imagine_totals WHERE scope = 'temp') AS tempFiles,
	(SELECT bytes FROM imagine_totals WHERE scope = 'u:' || $user) AS userBytes,
	(SELECT files FROM imagine_totals WHERE scope = 'u:' || $user) AS userFiles,
	(SELECT used FROM imagine_daily WHERE user_id = $user AND day = $day) AS dailyUsed,
	(SELECT SUM(cost) FROM imagine_reservations WHERE user_id = $user AND day = $day AND ${LIVE}) AS dailyPending,
	(SELECT SUM(bytes) FROM imagine_reservations WHERE ${LIVE}) AS reservedGlobalBytes,
	(SELECT SUM(bytes) FROM imagine_reservations WHERE user_id = $user AND temp = 0 AND ${LIVE}) AS reservedUserBytes`;

/**
 * A waiting job starts when fewer than `$maxRunning` of its user's live jobs have started: counted and marked in one
 * statement, under SQLite's write lock, so processes sharing the file never start one too many.
 */
export const START_JOB = `UPDATE imagine_reservations SET started_at = $now
	WHERE id = $id AND started_at IS NULL
		AND (SELECT COUNT(*) FROM imagine_reservations WHERE user_id = $user AND job = 1 AND started_at IS NOT NULL AND ${LIVE}) < $maxRunning
	RETURNING id`;

/** A waiting job's place: 1 + the user's jobs that wait and were admitted before it (or 0 when it is started or gone). */
export const JOB_PLACE = `SELECT r.started_at IS NOT NULL AS started,
	(SELECT COUNT(*) FROM imagine_reservations w WHERE w.user_id = r.user_id AND w.job = 1 AND w.started_at IS NULL
		AND w.expires_at > $now AND (w.created_at < r.created_at OR (w.created_at = r.created_at AND w.id < r.id))) + 1 AS position
	FROM imagine_reservations r WHERE r.id = $id`;
