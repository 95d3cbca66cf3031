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

/**
 * The named columns of a query's row as numbers (a missing row or NULL column is 0; PostgreSQL sends BIGINT sums as
 * strings).
 */
function numbersOf<Field extends string>(fields: readonly Field[], row: Record<string, unknown> | undefined): Record<Field, number> {
	return Object.fromEntries(fields.map((field) => [field, Number(row?.[field] ?? 0)])) as Record<Field, number>;
}

/** A usage query's row as the snapshot. */
export function usageSnapshotOf(row: Record<string, unknown> | undefined): UsageSnapshot {
	return numbersOf(USAGE_FIELDS, row);
}

const CREDIT_FIELDS = [
	'globalSpent',
	'globalReserved',
	'userSpent',
	'userReserved',
	'guildSpent',
	'guildReserved'
] as const satisfies readonly (keyof CreditUsage)[];

/** A credit usage query's row as numbers (each backend selects these names). */
export function creditUsageOf(row: Record<string, unknown> | undefined): CreditUsage {
	return numbersOf(CREDIT_FIELDS, row);
}
