/**
 * `npm start` on a fresh copy of the checkout (sharing this checkout's node_modules): it builds what is missing,
 * starts the built bot without compiling anything when nothing changed, and recompiles what a change touched.
 * The bot is started without DISCORD_TOKEN, so it stops at its configuration check with exit code 2.
 */
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshCopy, run } from './checkout.js';

let copy: string;

beforeAll(async () => {
	copy = await mkdtemp(join(tmpdir(), 'imagine-start-'));
	await freshCopy(copy);
});

afterAll(async () => {
	if (copy) await rm(copy, { recursive: true, force: true });
});

/** `npm start` with no token: the built bot runs and refuses to start, which is all this needs. */
async function npmStart() {
	const started = await run('npm', ['start'], copy, { STORAGE_ROOT: join(copy, 'root') }, 300_000);
	expect(started.stderr).toContain('DISCORD_TOKEN is not set');
	expect(started.code).toBe(2);
	return started;
}

const builtBot = () => join(copy, 'dist/esm/index.js');

describe('npm start', () => {
	it('builds the bot when dist/ is missing, then runs it', async () => {
		await npmStart();
		expect((await stat(builtBot())).isFile()).toBe(true);
	});

	it('runs the built bot without compiling anything when no source changed', async () => {
		const before = (await stat(builtBot())).mtimeMs;
		const info = (await stat(join(copy, 'dist/esm/.tsbuildinfo'))).mtimeMs;
		await npmStart();
		expect((await stat(builtBot())).mtimeMs).toBe(before);
		expect((await stat(join(copy, 'dist/esm/.tsbuildinfo'))).mtimeMs).toBe(info);
	});

	it('recompiles what changed before it runs', async () => {
		await appendFile(join(copy, 'src/index.ts'), '// changed after the first build\n');
		await npmStart();
		expect(await readFile(builtBot(), 'utf8')).toContain('// changed after the first build');
	});
});
