import type { CreditUsage, UsageSnapshot } from './QuotaLedger.js';

/** The columns of a usage query, named as the snapshot's fields: each backend's query selects them under these names. */
const USAGE_FIELDS = [
	'globalBytes',
	'globalFiles',
	'tempBytes',
	'tempFiles',
	'userBytes',
	'userFiles',
	'dailyUsed',
	'dailyPending',
	'reservedGlobalBytes',
	'reservedUserBytes'
] as const satisfies readonly (keyof UsageSnapshot)[];

/** A usage query's row as numbers (a missing row or NULL column is 0; PostgreSQL sends BIGINT sums as strings). */
export function usageSnapshotOf(row: Record<string, unknown> | undefined): UsageSnapshot {
	return Object.fromEntries(USAGE_FIELDS.map((field) => [field, Number(row?.[field] ?? 0)])) as Record<keyof UsageSnapshot, number>;
}

const CREDIT_FIELDS = [
	'globalSpent',
	'globalReserved',
	'userSpent',
	'userReserved',
	'guildSpent',
	'guildReserved'
] as const satisfies readonly (keyof CreditUsage)[];

/** A credit usage query's row as numbers, the same way (each backend selects these names). */
export function creditUsageOf(row: Record<string, unknown> | undefined): CreditUsage {
	return Object.fromEntries(CREDIT_FIELDS.map((field) => [field, Number(row?.[field] ?? 0)])) as Record<keyof CreditUsage, number>;
}
