import { randomBytes } from 'node:crypto';
import type { LedgerLimits, ReservationRow } from '../../../src/plugins/storage/ledger/QuotaLedger.js';
import type { TestSchema } from '../../helpers/postgres.js';

/** What the PostgreSQL ledger tests work with: limits none of them reaches, one day, and reservations on it. */
export const WIDE_LIMITS: LedgerLimits = {
	dailyGens: 1000,
	userBytes: 1e12,
	globalBytes: 1e12,
	jobs: 1000,
	guildDailyGens: 1000,
	globalCredits: 1e12,
	userCredits: 1e12,
	guildCredits: 1e12
};
export const DAY = '2026-12-01';
export const NOW = Date.UTC(2026, 11, 1, 12);

/** A reservation of one generation on DAY, live for ten minutes, with what a case changes. */
export function reservationRow(userId: string, changes: Partial<ReservationRow> = {}): ReservationRow {
	return {
		id: randomBytes(12).toString('hex'),
		userId,
		day: DAY,
		bytes: 100,
		cost: 1,
		temp: false,
		now: NOW,
		expiresAt: NOW + 600_000,
		owner: 'abcd1234',
		job: false,
		guildId: null,
		credits: 0,
		...changes
	};
}

/** Every counter beside what its rows sum to: the users' and servers' days, the totals, the credit days. */
export function counters(test: TestSchema) {
	return test.query<{ what: string; counted: string; summed: string }>(
		`WITH r AS (SELECT * FROM imagine_reservations), f AS (SELECT * FROM imagine_files)
			SELECT 'daily ' || d.user_id AS what, d.held::text AS counted, COALESCE((SELECT SUM(cost) FROM r WHERE r.user_id = d.user_id AND r.day = d.day), 0)::text AS summed
				FROM imagine_daily d
			UNION ALL SELECT 'guild ' || g.guild_id, g.held::text, COALESCE((SELECT SUM(cost) FROM r WHERE r.guild_id = g.guild_id AND r.day = g.day), 0)::text
				FROM imagine_guild_daily g
			UNION ALL SELECT 'held ' || t.scope, t.held_bytes::text, COALESCE((SELECT SUM(bytes) FROM r WHERE 'u:' || r.user_id = t.scope AND NOT r.temp), 0)::text
				FROM imagine_totals t WHERE t.scope LIKE 'u:%'
			UNION ALL SELECT 'jobs ' || t.scope, t.jobs::text, (SELECT COUNT(*) FROM r WHERE 'u:' || r.user_id = t.scope AND r.job)::text
				FROM imagine_totals t WHERE t.scope LIKE 'u:%'
			UNION ALL SELECT 'held global', t.held_bytes::text, COALESCE((SELECT SUM(bytes) FROM r), 0)::text FROM imagine_totals t WHERE t.scope = 'global'
			UNION ALL SELECT 'stored ' || t.scope, t.bytes::text, COALESCE((SELECT SUM(bytes) FROM f WHERE 'u:' || f.user_id = t.scope AND NOT f.temp), 0)::text
				FROM imagine_totals t WHERE t.scope LIKE 'u:%'
			UNION ALL SELECT 'stored global', t.bytes::text, COALESCE((SELECT SUM(bytes) FROM f), 0)::text FROM imagine_totals t WHERE t.scope = 'global'
			UNION ALL SELECT 'stored temp', t.bytes::text, COALESCE((SELECT SUM(bytes) FROM f WHERE f.temp), 0)::text FROM imagine_totals t WHERE t.scope = 'temp'
			UNION ALL SELECT 'credits held ' || c.scope, c.held::text, COALESCE((SELECT SUM(credits) FROM r WHERE r.day = c.day
				AND (c.scope = 'global' OR c.scope = 'u:' || r.user_id OR c.scope = 'g:' || r.guild_id)), 0)::text
				FROM imagine_credit_daily c`
	);
}

/** The counters that differ from what their rows sum to (none, when the ledger kept them right). */
export async function counterMismatches(test: TestSchema) {
	return (await counters(test)).filter((row) => row.counted !== row.summed);
}

/**
 * One image of a batch of commits as imagine_commit_many reads it (schema 8): 100 bytes on DAY, one generation, no
 * server, no credits, limits none reaches, with what a case changes.
 */
export function commitItem(userId: string, imageId: string, reservationId: string, changes: Record<string, unknown> = {}) {
	return {
		user_id: userId,
		image_id: imageId,
		temp: false,
		ext: 'png',
		bytes: 100,
		created_at: NOW,
		name: imageId,
		metadata: '{}',
		reservation_id: reservationId,
		charge_day: DAY,
		charge_cost: 1,
		charge_guild: null,
		charge_credits: 0,
		user_limit: 1e12,
		global_limit: 1e12,
		...changes
	};
}
