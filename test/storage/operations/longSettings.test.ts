import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/lib/config.js';
import { resolveGenerationOptions } from '../../../src/plugins/generation/options.js';
import { setLongInterval } from '../../../src/plugins/storage/longTimer.js';
import { resolveStorageOptions } from '../../../src/plugins/storage/options.js';
import { makeTempDir, openTestStorage } from '../../helpers/storageFixtures.js';

/**
 * Node fires any timer longer than 2^31 ms (24.8 days) at once. Every duration setting is bounded with an
 * error that names it, and the one long timer (clean-up, up to a year) waits out its interval in chunks.
 */

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
	vi.useRealTimers();
	await close?.();
	close = undefined;
});

function configProblems(env: NodeJS.ProcessEnv, root: string): readonly string[] {
	try {
		loadConfig({ STORAGE_ROOT: root, ...env });
	} catch (error) {
		if (error instanceof ConfigError) return error.problems;
		throw error;
	}
	return [];
}

describe('duration settings have an upper bound, named in the error', () => {
	it('environment variables', async () => {
		const temp = await makeTempDir();
		close = temp.cleanup;
		expect(configProblems({ CLEANUP_INTERVAL_MINUTES: '43200' }, temp.dir)).toEqual([]);
		expect(configProblems({ CLEANUP_INTERVAL_MINUTES: '600000' }, temp.dir)).toEqual([
			'- CLEANUP_INTERVAL_MINUTES: expected a whole number of minutes from 0 to 525600 (a year; 0 turns automatic clean-up off) (got "600000")'
		]);
		expect(configProblems({ GENERATION_TIMEOUT_SECONDS: '3000000' }, temp.dir)).toEqual([
			'- GENERATION_TIMEOUT_SECONDS: expected a number of seconds above 0, at most 3600 (got "3000000")'
		]);
		expect(configProblems({ STORAGE_CLEANUP_DAYS: '100000' }, temp.dir)[0]).toMatch(/^- STORAGE_CLEANUP_DAYS: .*at most 3650/);
	});

	it('plugin options', () => {
		expect(() => resolveStorageOptions({ cleanupIntervalMinutes: 1_000_000 })).toThrowError(
			/cleanupIntervalMinutes: expected 525600 minutes \(a year\) or less \(got 1000000\)/
		);
		expect(() => resolveStorageOptions({ reservationTtlMinutes: 100_000 })).toThrowError(/reservationTtlMinutes: expected 10080/);
		expect(() => resolveStorageOptions({ busyTimeoutMs: 3_000_000_000 })).toThrowError(/busyTimeoutMs: expected 600000/);
		expect(() => resolveGenerationOptions({ http: { generateTimeoutSeconds: 3_000_000 } })).toThrowError(
			/http\.generateTimeoutSeconds: expected 3600 seconds or less/
		);
		expect(() => resolveGenerationOptions({ jobTimeoutSeconds: 1e9 })).toThrowError(/jobTimeoutSeconds: expected 86400 seconds or less/);
	});

	it('a whole job is allowed as long as the provider may take, so a long generation time-out is not cut short', () => {
		expect(resolveGenerationOptions({}).jobTimeoutSeconds).toBe(600);
		expect(resolveGenerationOptions({ provider: 'automatic1111', http: { generateTimeoutSeconds: 3000 } }).jobTimeoutSeconds).toBe(3120);
		expect(resolveGenerationOptions({ jobTimeoutSeconds: 42 }).jobTimeoutSeconds).toBe(42);
	});
});

describe('a monthly clean-up', () => {
	it('does not run again and again: nothing happens in the first second', async () => {
		const storage = await openTestStorage({ cleanupIntervalMinutes: 43_200 });
		close = storage.close;
		storage.manager.startAutomaticCleanup();
		await sleep(1000);
		const log = await readFile(join(storage.root, 'logs', 'events.jsonl'), 'utf8').catch(() => '');
		expect(log.split('\n').filter((line) => line.includes('"type":"cleanup"'))).toEqual([]);
	});

	it('runs once per interval, however long', () => {
		vi.useFakeTimers();
		const task = vi.fn();
		const day = 86_400_000;
		const timer = setLongInterval(task, 30 * day);
		vi.advanceTimersByTime(29 * day);
		expect(task).toHaveBeenCalledTimes(0);
		vi.advanceTimersByTime(day);
		expect(task).toHaveBeenCalledTimes(1);
		vi.advanceTimersByTime(60 * day);
		expect(task).toHaveBeenCalledTimes(3);
		timer.cancel();
		vi.advanceTimersByTime(365 * day);
		expect(task).toHaveBeenCalledTimes(3);
	});
});
