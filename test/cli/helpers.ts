import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCli, type CliIo } from '../../src/cli/run.js';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(REPO, 'src', 'cli.ts');
/** tsx's loader by absolute URL: `--import tsx` would resolve from the child's working directory. */
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The environment every CLI test starts from: offline provider, quiet logs, nothing inherited from this machine. */
export function cliEnv(root: string, more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
	return { STORAGE_ROOT: root, IMAGE_PROVIDER: 'preview', CLEANUP_INTERVAL_MINUTES: '0', ...more };
}

export interface CliRun {
	code: number;
	stdout: string;
	stderr: string;
}

/** Parses stdout as exactly one JSON object (and nothing else), as --json promises. */
export function jsonOf<T = Record<string, unknown>>(run: CliRun): T {
	const text = run.stdout.trim();
	if (!text.startsWith('{') || text.split('\n').length !== 1)
		throw new Error(`stdout is not one JSON object:\n${run.stdout}\n--- stderr ---\n${run.stderr}`);
	return JSON.parse(text) as T;
}

/** `runCli` in this process with captured streams: what the command does, minus process start-up. */
export async function runInProcess(
	argv: readonly string[],
	env: NodeJS.ProcessEnv,
	options: { cwd?: string; isTTY?: boolean; signal?: AbortSignal } = {}
): Promise<CliRun> {
	let stdout = '';
	let stderr = '';
	const io: CliIo = {
		stdout: { write: (text: string) => (stdout += text) },
		stderr: { write: (text: string) => (stderr += text) },
		env,
		cwd: options.cwd ?? tmpdir(),
		isTTY: options.isTTY ?? false,
		...(options.signal ? { signal: options.signal } : {})
	};
	const code = await runCli(argv, io);
	return { code, stdout, stderr };
}

const children = new Set<ChildProcess>();

/** SIGKILLs every child still running (call from afterEach). */
export function killChildren(): void {
	for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	children.clear();
}

/** Tracks a child so killChildren reaches it. */
export function track<T extends ChildProcess>(child: T): T {
	children.add(child);
	child.once('close', () => children.delete(child));
	return child;
}

/** The real command, as an operator runs it: `node --import tsx src/cli.ts ...`, killed after `timeoutMs`. */
export function spawnCli(
	argv: readonly string[],
	env: NodeJS.ProcessEnv,
	options: { cwd?: string; timeoutMs?: number } = {}
): Promise<CliRun> {
	return new Promise((resolveRun, rejectRun) => {
		// PATH and HOME only from this environment: the command must not depend on anything else set here.
		const child = track(
			spawn(process.execPath, ['--import', TSX, CLI, ...argv], {
				cwd: options.cwd ?? REPO,
				env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
				stdio: ['ignore', 'pipe', 'pipe']
			})
		);
		let stdout = '';
		let stderr = '';
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
		const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
		child.on('error', (error) => {
			clearTimeout(timer);
			rejectRun(error);
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			if (code === null) rejectRun(new Error(`sapphire-imagine ${argv.join(' ')} ended by ${signal}\n${stderr}`));
			else resolveRun({ code, stdout, stderr });
		});
	});
}

const dirs: string[] = [];

/** A fresh folder; the storage root is `<dir>/root`, so canaries can sit beside it. Removed by removeTempDirs. */
export async function newTempDir(prefix = 'imagine-cli-'): Promise<{ dir: string; root: string }> {
	const dir = await mkdtemp(join(tmpdir(), prefix));
	dirs.push(dir);
	return { dir, root: join(dir, 'root') };
}

export async function removeTempDirs(): Promise<void> {
	await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

export interface DiskImage {
	id: string;
	userId: string | null;
	path: string;
	/** Image + its .json metadata: what the ledger counts. */
	bytes: number;
}

export interface DiskState {
	images: Map<string, DiskImage>;
	/** Hidden leftovers of interrupted writes. */
	partials: string[];
	/** Metadata files without their image (a write interrupted between the two renames). */
	orphanSidecars: string[];
	other: string[];
}

/** What is really under a storage root, by walking it (the ledger is not consulted). */
export async function walkStorage(root: string): Promise<DiskState> {
	const state: DiskState = { images: new Map(), partials: [], orphanSidecars: [], other: [] };
	const usersDir = join(root, 'images', 'users');
	const folders: [string, string | null][] = [[join(root, 'temp'), null]];
	for (const name of await readdir(usersDir).catch(() => [])) folders.push([join(usersDir, name), name]);
	for (const [folder, userId] of folders) {
		const names = await readdir(folder).catch(() => [] as string[]);
		const sidecars = new Set(names.filter((name) => /^[0-9a-z]{16}\.json$/.test(name)));
		for (const name of names) {
			const path = join(folder, name);
			const image = /^([0-9a-z]{16})\.(png|jpg|webp|gif)$/.exec(name);
			if (image) {
				const id = image[1] as string;
				const sidecar = `${id}.json`;
				const sidecarBytes = sidecars.has(sidecar) ? (await stat(join(folder, sidecar))).size : 0;
				sidecars.delete(sidecar);
				state.images.set(id, { id, userId, path, bytes: (await stat(path)).size + sidecarBytes });
			} else if (name.includes('.partial-')) state.partials.push(path);
			else if (!sidecars.has(name)) state.other.push(path);
		}
		for (const orphan of sidecars) state.orphanSidecars.push(join(folder, orphan));
	}
	return state;
}

export function sumBytes(images: Iterable<DiskImage>): number {
	let total = 0;
	for (const image of images) total += image.bytes;
	return total;
}
