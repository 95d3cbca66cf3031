import type { StorageManager } from './StorageManager.js';
import type { StorageOptions } from './options.js';

export * from './StorageManager.js';
export * from './options.js';
export * from './QuotaStatus.js';
export * from './StorageResult.js';
export { StorageConfigError } from './StorageConfigError.js';
export { defaultStorageMessages, type StorageMessages } from './StorageMessages.js';
export { failureOf, type Failure, type Outcome } from '../shared/Failure.js';
export type { EffectiveLimits, LimitSource } from './limits.js';
export type { LimitOverride, UserTotal } from './ledger/QuotaLedger.js';
export type { Clock } from './clock.js';
export { QuotaIdentifiers, QuotaPrecondition, roleIdsOf } from './preconditions/QuotaPrecondition.js';
export { DailyLimitPrecondition } from './preconditions/DailyLimit.js';
export { UserStoragePrecondition } from './preconditions/UserStorage.js';
export { GlobalStoragePrecondition } from './preconditions/GlobalStorage.js';
export { BYTES_PER_MB, formatDuration, formatMb } from './units.js';

declare module '@sapphire/pieces' {
	interface Container {
		/**
		 * Quota-managed image storage, put here by `sapphire-imagine/storage/register` as the client logs in (its
		 * ledger opens then), so it is there for every command, listener and precondition. Code that may run without
		 * the storage plugin checks `'storage' in container` first, as the generation plugin does.
		 */
		storage: StorageManager;
	}
}

declare module 'discord.js' {
	interface ClientOptions {
		/** Options of the storage plugin; every field has a default. */
		storage?: StorageOptions;
	}
}

declare module '@sapphire/framework' {
	interface Preconditions {
		DailyLimit: never;
		UserStorage: never;
		GlobalStorage: never;
	}
}
