import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DiscordStandIn } from './DiscordStandIn.js';

const repository = fileURLToPath(new URL('../../../', import.meta.url));

export interface BotProcess {
	child: ChildProcess;
	/** Every line the bot wrote, stdout and stderr, in order. */
	lines: string[];
	/** Resolves with the first line (written or to come) matching `pattern`. */
	waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
	/** The process's end: its exit code (null when killed by a signal). */
	exited: Promise<number | null>;
	/** SIGTERM (the bot's clean shutdown), then SIGKILL after `graceMs`; resolves with the exit code. */
	stop(graceMs?: number): Promise<number | null>;
}

export interface BotProcessOptions {
	/** The storage root (images, ledger); the working directory is its parent, so no `.env` of the checkout is read. */
	storageRoot: string;
	cwd: string;
	/** The token to log in with; default the one the stand-in accepts. */
	token?: string;
	/** More environment variables (LOG_LEVEL, IMAGE_PROVIDER...). */
	env?: Record<string, string>;
}

/**
 * The real bot (`src/index.ts` under tsx, as `npm run dev` runs it) in a child process, pointed at the
 * stand-in by `DISCORD_API_URL` and given its token by `DISCORD_TOKEN`, with the offline preview provider.
 */
export function startBotProcess(discord: DiscordStandIn, options: BotProcessOptions): BotProcess {
	const child = spawn(`${repository}node_modules/.bin/tsx`, [`${repository}src/index.ts`], {
		cwd: options.cwd,
		env: {
			PATH: process.env.PATH,
			HOME: options.cwd,
			TSX_TSCONFIG_PATH: `${repository}tsconfig.json`,
			DISCORD_TOKEN: options.token ?? discord.token,
			DISCORD_API_URL: discord.apiUrl,
			STORAGE_ROOT: options.storageRoot,
			IMAGE_PROVIDER: 'preview',
			CLEANUP_INTERVAL_MINUTES: '0',
			...options.env
		},
		stdio: ['ignore', 'pipe', 'pipe']
	});
	const lines: string[] = [];
	const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
	const collect = (stream: NodeJS.ReadableStream) => {
		let partial = '';
		stream.on('data', (chunk: Buffer) => {
			const parts = (partial + chunk.toString()).split('\n');
			partial = parts.pop()!;
			for (const line of parts) {
				lines.push(line);
				for (const waiter of [...waiters]) if (waiter.pattern.test(line)) waiter.resolve(line);
			}
		});
	};
	collect(child.stdout!);
	collect(child.stderr!);
	const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

	return {
		child,
		lines,
		exited,
		waitForLine(pattern, timeoutMs = 30_000) {
			const found = lines.find((line) => pattern.test(line));
			if (found) return Promise.resolve(found);
			return new Promise((resolve, reject) => {
				const waiter = {
					pattern,
					resolve: (line: string) => {
						clearTimeout(timer);
						waiters.delete(waiter);
						resolve(line);
					}
				};
				const timer = setTimeout(() => {
					waiters.delete(waiter);
					reject(new Error(`The bot wrote no line matching ${pattern} within ${timeoutMs} ms. Output:\n${lines.join('\n')}`));
				}, timeoutMs);
				waiters.add(waiter);
				void exited.then(() => {
					if (!waiters.has(waiter)) return;
					clearTimeout(timer);
					waiters.delete(waiter);
					reject(new Error(`The bot exited without a line matching ${pattern}. Output:\n${lines.join('\n')}`));
				});
			});
		},
		async stop(graceMs = 20_000) {
			if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
			child.kill('SIGTERM');
			const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
			const code = await exited;
			clearTimeout(timer);
			return code;
		}
	};
}
