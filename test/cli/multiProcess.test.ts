import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { userIds } from '../fixtures/storageFlows.js';
import { killWorkers, raceWorkers, startReadyGoWorker } from '../helpers/readyGoWorker.js';
import type { CliWorkerArgs, CliWorkerResult } from './fixtures/cliWorker.js';
import { cliEnv, jsonOf, killChildren, newTempDir, REPO, removeTempDirs, runInProcess, sumBytes, walkStorage } from './helpers.js';

/*
 * Many processes, one storage root and one ledger, as shards of one bot plus an operator's cron would be. Each
 * of 4 worker processes fires 50 `generate` invocations at once (each with its own configuration, services and
 * ledger connection, as a separate `sapphire-imagine` process has), and a couple of `reconcile` runs in the
 * middle of them. The quotas must hold exactly across all of them.
 */

const WORKER = join(REPO, 'test', 'cli', 'fixtures', 'cliWorker.ts');
const PROCESSES = 4;
const PER_PROCESS = 50;
const DEADLINE_MS = 50_000;
/** Room reserved on top of the estimate for the metadata file (StorageManager's METADATA_ALLOWANCE). */
const METADATA_ALLOWANCE = 4096;
const MIB = 1024 * 1024;

afterEach(async () => {
	killChildren();
	killWorkers();
	await removeTempDirs();
});

const generateArgs = (user: string) => [
	'generate',
	'--user',
	user,
	'--prompt',
	'a lighthouse at dusk',
	'--seed',
	'7',
	'--width',
	'128',
	'--height',
	'128',
	'--json'
];

async function runWorkers(argsFor: (index: number) => CliWorkerArgs): Promise<CliWorkerResult[]> {
	const deadline = Date.now() + DEADLINE_MS;
	const workers = Array.from({ length: PROCESSES }, (_, index) =>
		startReadyGoWorker<CliWorkerResult[]>(WORKER, argsFor(index), {
			deadline,
			name: `worker ${index}`,
			// 50 separate processes would have 50 libuv thread pools; 50 invocations in one process share one. Give it
			// as many threads as the processes it stands for would have between them.
			env: { ...process.env, UV_THREADPOOL_SIZE: '128' }
		})
	);
	return (await raceWorkers(workers)).flat();
}

/** Two reconciles among the generations of each worker: safe to run while jobs are in flight. */
function withReconciles(runs: string[][]): string[][] {
	const middle = Math.floor(runs.length / 2);
	return [...runs.slice(0, middle), ['reconcile', '--json'], ...runs.slice(middle), ['reconcile', '--json']];
}

interface GenerateJson {
	ok: boolean;
	reason?: string;
	image?: { id: string; bytes: number; userId: string };
}

describe('generate from many processes', () => {
	it(
		`${PROCESSES} processes x ${PER_PROCESS} concurrent generate for one user, daily limit 5: exactly 5 succeed`,
		{ timeout: 60_000 },
		async () => {
			const { root } = await newTempDir();
			const user = '123456789012345678';
			const env = cliEnv(root, { MAX_USER_DAILY_GENS: '5' });

			const results = await runWorkers(() => ({
				env,
				runs: withReconciles(Array.from({ length: PER_PROCESS }, () => generateArgs(user)))
			}));

			const reconciles = results.filter((result) => result.argv[0] === 'reconcile');
			expect(reconciles.map((result) => result.code)).toEqual(Array(PROCESSES * 2).fill(0));
			const generates = results.filter((result) => result.argv[0] === 'generate');
			expect(generates).toHaveLength(PROCESSES * PER_PROCESS);
			const codes: Record<number, number> = {};
			for (const result of generates) codes[result.code] = (codes[result.code] ?? 0) + 1;
			expect(codes).toEqual({ 0: 5, 3: PROCESSES * PER_PROCESS - 5 });

			const outputs = generates.map((result) => ({ ...result, json: jsonOf<GenerateJson>(result) }));
			for (const { code, json, stderr } of outputs) {
				if (code === 3) {
					expect(json).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
					expect(stderr).toMatch(/^DAILY_LIMIT: Daily generation limit reached/);
				} else expect(json.ok).toBe(true);
			}
			const ids = outputs.flatMap(({ json }) => (json.image ? [json.image.id] : [])).sort();
			expect(new Set(ids).size).toBe(5);

			const disk = await walkStorage(root);
			expect([...disk.images.keys()].sort()).toEqual(ids);
			expect(disk.partials).toEqual([]);
			const status = jsonOf<{ daily: Record<string, unknown>; user: Record<string, unknown> }>(
				await runInProcess(['status', '--user', user, '--json'], env)
			);
			expect(status.daily).toMatchObject({ used: 5, pending: 0, remaining: 0, allowed: false });
			expect(status.user).toMatchObject({ files: 5, usedBytes: sumBytes(disk.images.values()) });
			const listed = jsonOf<{ images: { id: string }[] }>(await runInProcess(['images', '--user', user, '--json'], env));
			expect(listed.images.map((image) => image.id).sort()).toEqual(ids);
		}
	);

	it(
		`${PROCESSES} processes x 25 users x 2 concurrent generate against the global cap: it fills, never passes`,
		{ timeout: 60_000 },
		async () => {
			// Every generation stores the same bytes (same prompt, seed and size; user ids of one length): measure them
			// once, then reserve exactly that much per job, so exactly floor(cap / size) images fit, whatever the timing.
			const scratch = await newTempDir();
			const probe = await runInProcess(generateArgs('999999999999999999'), cliEnv(scratch.root));
			const imageBytes = jsonOf<GenerateJson>(probe).image?.bytes ?? 0;
			expect(imageBytes).toBeGreaterThan(METADATA_ALLOWANCE);
			const fits = 8;
			const capBytes = fits * imageBytes + Math.floor(imageBytes / 2);

			const { root } = await newTempDir();
			const users = userIds(25);
			const env = cliEnv(root, {
				MAX_USER_DAILY_GENS: '100',
				// Exact binary fractions of a MiB print as exact decimals, and mbToBytes gets the byte count back exactly.
				IMAGE_GEN_SIZE_MB: String((imageBytes - METADATA_ALLOWANCE) / MIB),
				MAX_GLOBAL_STORAGE_MB: String(capBytes / MIB)
			});
			const results = await runWorkers(() => ({
				env,
				runs: withReconciles(users.flatMap((user) => [generateArgs(user), generateArgs(user)]))
			}));

			const generates = results
				.filter((result) => result.argv[0] === 'generate')
				.map((result) => ({ ...result, json: jsonOf<GenerateJson>(result) }));
			expect(generates).toHaveLength(PROCESSES * users.length * 2);
			expect(results.filter((result) => result.argv[0] === 'reconcile').every((result) => result.code === 0)).toBe(true);
			const succeeded = generates.filter((result) => result.code === 0);
			const denied = generates.filter((result) => result.code !== 0);
			expect(
				denied.every((result) => result.code === 3 && result.json.reason === 'GLOBAL_QUOTA'),
				JSON.stringify(denied.find((result) => result.json.reason !== 'GLOBAL_QUOTA'))
			).toBe(true);
			expect(succeeded).toHaveLength(fits);
			expect(succeeded.every((result) => result.json.image?.bytes === imageBytes)).toBe(true);

			const disk = await walkStorage(root);
			expect(disk.images.size).toBe(fits);
			expect(sumBytes(disk.images.values())).toBeLessThanOrEqual(capBytes);
			const report = jsonOf<{ global: { usedBytes: number; files: number; totalBytes: number }; topUsers: unknown[] }>(
				await runInProcess(['report', '--top', '100', '--json'], env)
			);
			expect(report.global).toMatchObject({ usedBytes: sumBytes(disk.images.values()), files: fits, totalBytes: capBytes });
			expect(report.topUsers.length).toBe(new Set(succeeded.map((result) => result.json.image?.userId)).size);
		}
	);
});
