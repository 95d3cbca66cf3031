import { nextUtcMidnight } from './clock.js';
import type { EffectiveLimits, LimitSource } from './limits.js';
import type { UsageSnapshot } from './ledger/QuotaLedger.js';
import { bytesToMb } from './units.js';

export type QuotaLevel = 'OK' | 'WARNING' | 'CRITICAL';

export interface QuotaStatus {
	global: {
		usedMb: number;
		totalMb: number;
		percentage: number;
		/** How full: OK, WARNING above 80 %, CRITICAL above 95 %. */
		level: QuotaLevel;
		/** @deprecated The same as `level` (its former name), kept so code and scripts that read it keep working. */
		status: QuotaLevel;
		usedBytes: number;
		totalBytes: number;
		files: number;
		tempMb: number;
		/** Whether one more image of the estimated size fits, counting live reservations. */
		allowed: boolean;
	};
	user: {
		usedMb: number;
		limitMb: number;
		percentage: number;
		/** How full: OK, WARNING above 80 %, CRITICAL above 95 %. */
		level: QuotaLevel;
		/** @deprecated The same as `level` (its former name), kept so code and scripts that read it keep working. */
		status: QuotaLevel;
		usedBytes: number;
		limitBytes: number;
		files: number;
		allowed: boolean;
	};
	daily: {
		used: number;
		/** Generations running now; they count against the limit while they last. */
		pending: number;
		limit: number;
		remaining: number;
		allowed: boolean;
		resetsAt: Date;
	};
	/** Where the limits come from; `dailyFrom: 'server'` when the server's daily limit per member is the one in force. */
	limits: { source: LimitSource; tierName?: string; dailyFrom?: 'server' };
}

/** OK up to 80 %, WARNING above 80 %, CRITICAL above 95 %. */
export function quotaLevel(percentage: number): QuotaLevel {
	if (percentage > 95) return 'CRITICAL';
	if (percentage > 80) return 'WARNING';
	return 'OK';
}

function percent(used: number, total: number): number {
	if (total <= 0) return used > 0 ? 100 : 0;
	return Math.round((used / total) * 1000) / 10;
}

export function buildQuotaStatus(
	usage: UsageSnapshot,
	limits: EffectiveLimits,
	globalBytes: number,
	estimatedBytes: number,
	now: number
): QuotaStatus {
	const globalPercentage = percent(usage.globalBytes, globalBytes);
	const userPercentage = percent(usage.userBytes, limits.storageBytes);
	const remaining = Math.max(0, limits.dailyGens - usage.dailyUsed - usage.dailyPending);
	return {
		global: {
			usedMb: bytesToMb(usage.globalBytes),
			totalMb: bytesToMb(globalBytes),
			percentage: globalPercentage,
			level: quotaLevel(globalPercentage),
			status: quotaLevel(globalPercentage),
			usedBytes: usage.globalBytes,
			totalBytes: globalBytes,
			files: usage.globalFiles,
			tempMb: bytesToMb(usage.tempBytes),
			allowed: usage.globalBytes + usage.reservedGlobalBytes + estimatedBytes <= globalBytes
		},
		user: {
			usedMb: bytesToMb(usage.userBytes),
			limitMb: bytesToMb(limits.storageBytes),
			percentage: userPercentage,
			level: quotaLevel(userPercentage),
			status: quotaLevel(userPercentage),
			usedBytes: usage.userBytes,
			limitBytes: limits.storageBytes,
			files: usage.userFiles,
			allowed: usage.userBytes + usage.reservedUserBytes + estimatedBytes <= limits.storageBytes
		},
		daily: {
			used: usage.dailyUsed,
			pending: usage.dailyPending,
			limit: limits.dailyGens,
			remaining,
			allowed: remaining > 0,
			resetsAt: nextUtcMidnight(now)
		},
		limits: {
			source: limits.source,
			...(limits.tierName ? { tierName: limits.tierName } : {}),
			...(limits.dailyFrom ? { dailyFrom: limits.dailyFrom } : {})
		}
	};
}
