import type { WindowPlace } from './RequestLimiter.js';

/**
 * A provider's rate window kept outside the process (in the quota ledger), so every process and host using the same
 * key stays under its limit together. The storage plugin provides one (`StorageManager.rateWindow`).
 */
export interface SharedRateWindow {
	/** A place for a request sent now, or the ms to wait before asking again. Rejects when the window cannot be reached. */
	claim(): Promise<WindowPlace | number>;
}

/** Where a client finds the shared window of its limit (`key`: a hash of the provider, its address and its key). */
export type SharedRateWindows = (key: string, maxPerWindow: number, windowMs: number) => SharedRateWindow | undefined;
