import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** This checkout: the clone is made from its last commit (work not yet committed is not in it). */
export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface FreshClone {
	/** The clone's folder: where a new owner runs the README's commands. */
	dir: string;
	remove(): Promise<void>;
}

/**
 * `git clone` of this repository's HEAD into a new temp folder, with a copy of the checkout's node_modules so
 * `npm install` finds everything in place instead of downloading and compiling (a copy, not a link: nothing
 * the test runs can change the checkout's own packages).
 */
export async function freshClone(): Promise<FreshClone> {
	const parent = await mkdtemp(join(tmpdir(), 'imagine-first-hour-'));
	const dir = join(parent, 'sapphire-imagine');
	const { stdout: head } = await run('git', ['-C', REPO, 'rev-parse', 'HEAD']);
	await run('git', ['clone', '--quiet', '--no-checkout', REPO, dir]);
	await run('git', ['-C', dir, 'checkout', '--quiet', '--detach', head.trim()]);
	await run('cp', ['-a', '--reflink=auto', join(REPO, 'node_modules'), join(dir, 'node_modules')]);
	return { dir, remove: () => rm(parent, { recursive: true, force: true }) };
}

export interface Finished {
	code: number | null;
	/** stdout and stderr as they came, in one string (a terminal shows them interleaved too). */
	output: string;
}

/** What a person's shell has, and nothing else of this machine's environment. */
export function shellEnv(home: string, more: Record<string, string> = {}): NodeJS.ProcessEnv {
	return { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', TERM: 'xterm-256color', ...more };
}

/** A command line run by `sh -c` in `cwd`, to its end, output piped. */
export async function runCommand(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Finished> {
	const started = startCommand(command, cwd, env, { terminal: false });
	const timer = setTimeout(() => started.kill('SIGKILL'), timeoutMs);
	const code = await started.exited;
	clearTimeout(timer);
	return { code, output: started.output() };
}

export interface Started {
	child: ChildProcess;
	output(): string;
	/** The output's lines so far: carriage returns and colour codes removed, as a person reads them. */
	lines(): string[];
	waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
	/** Types on the terminal (only with `terminal: true`), e.g. "\u0003" for Ctrl+C. */
	type(text: string): void;
	/** Signals every process the command started (its process group). */
	kill(signal: NodeJS.Signals): void;
	exited: Promise<number | null>;
}

// eslint-disable-next-line no-control-regex -- terminal control sequences (colours, npm's spinner) are what is removed
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

/**
 * Starts a command line. With `terminal`, it runs on a pseudo-terminal (util-linux `script`), so the bot sees
 * a terminal on stdout as it does in a person's shell; otherwise its output is a pipe, as under a process manager.
 */
export function startCommand(command: string, cwd: string, env: NodeJS.ProcessEnv, { terminal }: { terminal: boolean }): Started {
	const child = terminal
		? spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
				cwd,
				env,
				detached: true,
				stdio: ['pipe', 'pipe', 'pipe']
			})
		: spawn('sh', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
	let output = '';
	const waiters = new Set<() => void>();
	const collect = (chunk: Buffer) => {
		output += chunk.toString('utf8');
		for (const waiter of [...waiters]) waiter();
	};
	child.stdout!.on('data', collect);
	child.stderr!.on('data', collect);
	let closed = false;
	const exited = new Promise<number | null>((resolveExit) =>
		child.once('close', (code) => {
			closed = true;
			resolveExit(code);
		})
	);
	const lines = () =>
		output
			.replace(ANSI, '')
			.split('\n')
			.map((line) => line.replace(/\r$/, ''))
			.filter((line) => line !== '');
	return {
		child,
		output: () => output,
		lines,
		waitFor(pattern, timeoutMs = 90_000) {
			return new Promise((resolveLine, rejectLine) => {
				const check = () => {
					const found = lines().find((line) => pattern.test(line));
					if (found === undefined) return;
					finish();
					resolveLine(found);
				};
				const timer = setTimeout(() => {
					finish();
					rejectLine(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${output}`));
				}, timeoutMs);
				const ended = () => {
					finish();
					rejectLine(new Error(`the command ended without a line matching ${pattern}; output:\n${output}`));
				};
				const finish = () => {
					clearTimeout(timer);
					waiters.delete(check);
					child.off('close', ended);
				};
				waiters.add(check);
				child.once('close', ended);
				check();
				if (closed && waiters.has(check)) ended();
			});
		},
		type(text) {
			child.stdin?.write(text);
		},
		kill(signal) {
			if (child.pid !== undefined && child.exitCode === null) {
				try {
					process.kill(-child.pid, signal);
				} catch {
					// Already gone.
				}
			}
		},
		exited
	};
}
