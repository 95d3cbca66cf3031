import type { LimitOverride } from './ledger/QuotaLedger.js';
import type { ResolvedStorageOptions } from './options.js';
import { mbToBytes } from './units.js';

/** Where a user's limits come from, most specific first. */
export type LimitSource = 'override' | 'owner' | 'tier' | 'default';

export interface EffectiveLimits {
	dailyGens: number;
	storageBytes: number;
	/** Jobs generating at once; null: no cap (and then no cap on waiting ones either). */
	maxJobs: number | null;
	/** Jobs waiting beyond `maxJobs`. */
	maxQueued: number;
	source: LimitSource;
	/** The role tier in force, when one is. */
	tierName?: string;
	/** Set when the server the request comes from has the lowest daily limit, which then applies. */
	dailyFrom?: 'server';
}

/** Owners get a generous allowance by default, still bounded by the global cap (the disk is real). */
const OWNER_DEFAULT_DAILY_GENS = 100;

/**
 * A user's limits: an admin's override field wins, then the owner allowance, then the best role tier
 * the member holds (highest daily limit, then most storage), then the defaults. Each field falls
 * through on its own, so an override of the daily limit keeps the tier's storage.
 */
export function resolveLimits(
	options: ResolvedStorageOptions,
	userId: string,
	roleIds: readonly string[],
	override: LimitOverride | null
): EffectiveLimits {
	// Job caps: the best tier's, field by field, else the defaults; owners included (a runaway script is no less one).
	const tier = bestTier(options, roleIds);
	const jobs = { maxJobs: tier?.maxJobs ?? options.maxJobsPerUser ?? null, maxQueued: tier?.maxQueued ?? options.maxQueuedPerUser };
	let base: EffectiveLimits = {
		dailyGens: options.maxUserDailyGens,
		storageBytes: mbToBytes(options.maxUserStorageMb),
		...jobs,
		source: 'default'
	};
	if (options.ownerIds.includes(userId)) {
		base = {
			dailyGens: options.ownerLimits.dailyGens ?? OWNER_DEFAULT_DAILY_GENS,
			storageBytes: mbToBytes(options.ownerLimits.storageMb ?? options.maxGlobalStorageMb),
			...jobs,
			source: 'owner'
		};
	} else if (tier) {
		base = { dailyGens: tier.dailyGens, storageBytes: mbToBytes(tier.storageMb), ...jobs, source: 'tier', tierName: tier.name };
	}
	if (!override || (override.dailyGens === undefined && override.storageMb === undefined)) return base;
	return {
		...base,
		dailyGens: override.dailyGens ?? base.dailyGens,
		storageBytes: override.storageMb === undefined ? base.storageBytes : mbToBytes(override.storageMb),
		source: 'override'
	};
}

function bestTier(options: ResolvedStorageOptions, roleIds: readonly string[]) {
	if (roleIds.length === 0 || options.roleTiers.length === 0) return undefined;
	const held = new Set(roleIds);
	let best: ResolvedStorageOptions['roleTiers'][number] | undefined;
	for (const tier of options.roleTiers) {
		if (!held.has(tier.roleId)) continue;
		if (!best || tier.dailyGens > best.dailyGens || (tier.dailyGens === best.dailyGens && tier.storageMb > best.storageMb)) best = tier;
	}
	return best;
}
