import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileUnderLoadArgs } from './fixtures/reconcileUnderLoad.js';
import { killChildren, newTempDir, REPO, removeTempDirs, track, TSX } from './helpers.js';

/*
 * A reconcile run from the operator tool (or the bot's start-up) in the same process as live requests: the
 * fixture runs both in one child process with Node's default thread pool, as a bot has.
 */

const FIXTURE = join(REPO, 'test', 'cli', 'fixtures', 'reconcileUnderLoad.ts');

afterEach(async () => {
	killChildren();
	await removeTempDirs();
});

function runFixture(
	args: ReconcileUnderLoadArgs,
	deadlineMs: number
): Promise<{ ms: number; added: number; ok: number; denied: Record<string, number> }> {
	return new Promise((resolveRun, rejectRun) => {
		const env: NodeJS.ProcessEnv = { ...process.env };
		delete env.UV_THREADPOOL_SIZE; // Node's default of 4 threads, as a bot has
		const child = track(
			spawn(process.execPath, ['--import', TSX, FIXTURE, JSON.stringify(args)], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
		);
		let stdout = '';
		let stderr = '';
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
		const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			if (code === 0) resolveRun(JSON.parse(stdout) as never);
			else rejectRun(new Error(`reconcile under load did not finish within ${deadlineMs} ms (${signal ?? `exit ${code}`})\n${stderr}`));
		});
	});
}

describe('reconcile while the same process serves requests', () => {
	/*
	 * Reconcile's corrections go out as multi-row statements on the ledger's own connection, never as one long
	 * transaction: a transaction held across many statements would wait for libuv worker threads that this
	 * process's own concurrent requests occupy while they wait for its lock (each then failing after the busy
	 * time-out). This is the bot's start-up reconcile right after a crash, when there is most to correct.
	 */
	it('a reconcile with 1000 corrections while 32 requests keep arriving: no request fails', { timeout: 120_000 }, async () => {
		const { root } = await newTempDir('imagine-starve-');
		// The deadline only stops a run that hangs (the starvation this guards against made requests wait forever).
		const result = await runFixture({ storageRoot: root, unknownFiles: 1000, concurrency: 32, rounds: 3, busyTimeoutMs: 250 }, 100_000);
		expect(result.added).toBeGreaterThanOrEqual(3000);
		expect(result.denied).toEqual({});
	});
});
