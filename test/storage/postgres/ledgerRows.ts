import { randomBytes } from 'node:crypto';
import type { LedgerLimits, ReservationRow } from '../../../src/plugins/storage/ledger/QuotaLedger.js';

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
