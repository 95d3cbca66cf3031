import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const running = new Set<ChildProcessWithoutNullStreams>();

/** A worker process that prints `ready`, waits for `go` on stdin (test/fixtures/startSignal.ts), then prints one JSON line. */
export interface ReadyGoWorker<T> {
	/** Resolves once the worker printed `ready`. */
	ready: Promise<void>;
	/** The worker's one JSON line; rejects (with its output) on a non-zero exit, another output, or the deadline. */
	done: Promise<T>;
	go(): void;
}

export interface WorkerOptions {
	/** Epoch ms by which the worker must be done; it is SIGKILLed then. */
	deadline: number;
	/** For messages. */
	name?: string;
	env?: NodeJS.ProcessEnv;
}

/** `node --import tsx <script> '<args as JSON>'` from the repository root. */
export function startReadyGoWorker<T>(script: string, args: unknown, options: WorkerOptions): ReadyGoWorker<T> {
	const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(args)], {
		cwd: REPO,
		stdio: 'pipe',
		...(options.env ? { env: options.env } : {})
	});
	running.add(child);
	child.once('close', () => running.delete(child));
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
	child.stdin.on('error', () => undefined); // a child that died early must fail the test through `done`, not an EPIPE
	const describeChild = () =>
		`${options.name ?? 'worker'} (pid ${child.pid})\n--- stdout ---\n${stdout.slice(0, 2000)}\n--- stderr ---\n${stderr.slice(0, 4000)}`;

	const done = new Promise<T>((resolveDone, rejectDone) => {
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			rejectDone(new Error(`${describeChild()}\nkilled: still running after the deadline`));
		}, options.deadline - Date.now()).unref();
		child.on('error', (error) => {
			clearTimeout(timer);
			rejectDone(new Error(`${describeChild()}\ncould not start: ${error.message}`));
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			const lines = stdout.split('\n').filter((line) => line.trim() !== '' && line !== 'ready');
			if (code !== 0 || lines.length !== 1) {
				rejectDone(new Error(`${describeChild()}\nexited with ${signal ?? `code ${code}`}, expected code 0 and one JSON line`));
				return;
			}
			try {
				resolveDone(JSON.parse(lines[0] as string) as T);
			} catch (error) {
				rejectDone(new Error(`${describeChild()}\nbad JSON: ${String(error)}`));
			}
		});
	});
	const ready = new Promise<void>((resolveReady, rejectReady) => {
		child.stdout.on('data', () => /^ready$/m.test(stdout) && resolveReady());
		done.then(
			() => rejectReady(new Error(`${describeChild()}\nexited before "ready"`)),
			(error: unknown) => rejectReady(error)
		);
	});
	// Settled by the test through `done`; this only keeps a rejection nobody awaits yet from going unhandled.
	ready.catch(() => undefined);
	done.catch(() => undefined);
	return { ready, done, go: () => child.stdin.end('go\n') };
}

/** Waits until every worker is ready, says go to all at once (so they race for real), and gathers their results. */
export async function raceWorkers<T>(workers: readonly ReadyGoWorker<T>[]): Promise<T[]> {
	await Promise.all(workers.map((worker) => worker.ready));
	for (const worker of workers) worker.go();
	return Promise.all(workers.map((worker) => worker.done));
}

/** SIGKILLs every worker still running (call from afterEach). */
export function killWorkers(): void {
	for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	running.clear();
}
