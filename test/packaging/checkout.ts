import { spawn } from 'node:child_process';
import { cp, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
	code: number | null;
	stdout: string;
	stderr: string;
}

/**
 * Runs a command to its end (killed after `timeoutMs`). npm's own `npm_*` variables from `npm test` are left
 * out, so a nested npm sees the temp folder's project, not this one.
 */
export function run(
	command: string,
	args: readonly string[],
	cwd: string,
	env: Record<string, string> = {},
	timeoutMs = 120_000
): Promise<Run> {
	const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
		const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
		child.on('error', reject);
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			if (signal) reject(new Error(`${command} ${args.join(' ')} ended by ${signal} after ${timeoutMs} ms\n${stdout}\n${stderr}`));
			else resolve({ code, stdout, stderr });
		});
	});
}

export function expectSuccess(result: Run, what: string): Run {
	if (result.code !== 0) throw new Error(`${what} exited with ${result.code}\n${result.stdout}\n${result.stderr}`);
	return result;
}

/** A copy of the checkout as a fresh clone has it (tracked and new files, nothing ignored: no dist/), with its node_modules. */
export async function freshCopy(destination: string): Promise<void> {
	const listed = expectSuccess(await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO), 'git ls-files');
	for (const file of listed.stdout.split('\0').filter(Boolean)) {
		await cp(join(REPO, file), join(destination, file), { recursive: true, errorOnExist: false }).catch((error: NodeJS.ErrnoException) => {
			// A file deleted in the working tree but not yet in the index is not part of the copy.
			if (error.code !== 'ENOENT') throw error;
		});
	}
	await symlink(join(REPO, 'node_modules'), join(destination, 'node_modules'), 'dir');
}
