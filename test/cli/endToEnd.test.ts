import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { USER_A } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, killChildren, newTempDir, removeTempDirs, spawnCli } from './helpers.js';

/*
 * The real command, as an operator or cron runs it: `node --import tsx src/cli.ts ...` in a child process, with
 * nothing but the variables given. Proves the exit codes, that --json leaves exactly one JSON object on stdout
 * (logs go to stderr), and that the process ends on its own (no handle left open).
 */

afterAll(async () => {
	killChildren();
	await removeTempDirs();
});

const generate = ['generate', '--user', USER_A, '--prompt', 'a lighthouse at dusk', '--width', '128', '--height', '128', '--json'];

describe.concurrent('sapphire-imagine, spawned', () => {
	it('--help and <command> --help: exit 0, usage on stdout', async () => {
		const [help, sub] = await Promise.all([spawnCli(['--help'], {}), spawnCli(['generate', '--help'], {})]);
		expect(help).toMatchObject({ code: 0, stderr: '' });
		expect(help.stdout).toMatch(/^Usage: sapphire-imagine <command>/);
		expect(sub).toMatchObject({ code: 0, stderr: '' });
		expect(sub.stdout).toMatch(/^Usage: sapphire-imagine generate --user ID --prompt TEXT/);
	});

	it('status --json: exit 0, stdout is exactly one JSON object even with logs on, and the process ends by itself', async () => {
		const { root } = await newTempDir();
		const run = await spawnCli(['status', '--user', USER_A, '--json'], cliEnv(root, { LOG_LEVEL: 'debug' }));
		expect(run.code, run.stderr).toBe(0);
		expect(jsonOf(run)).toMatchObject({ daily: { used: 0, limit: 5 }, user: { files: 0 }, limits: { source: 'default' } });
		expect(run.stderr).toContain('"msg":"Command finished"');
	});

	it('generate then a denied generate: exit 0, then exit 3 with DAILY_LIMIT', async () => {
		const { root } = await newTempDir();
		const env = cliEnv(root, { MAX_USER_DAILY_GENS: '1' });
		const saved = await spawnCli(generate, env);
		expect(saved.code, saved.stderr).toBe(0);
		const result = jsonOf<{ ok: boolean; image: { path: string; bytes: number } }>(saved);
		expect(result.ok).toBe(true);
		expect((await stat(result.image.path)).isFile()).toBe(true);

		const denied = await spawnCli(generate, env);
		expect(denied.code).toBe(3);
		expect(jsonOf(denied)).toMatchObject({ ok: false, reason: 'DAILY_LIMIT' });
		expect(denied.stderr).toContain('DAILY_LIMIT: Daily generation limit reached (1/1)');
	});

	it('bad usage and bad configuration: exit 2', async () => {
		const { root } = await newTempDir();
		const [usage, config] = await Promise.all([
			spawnCli(['delete', '--user', USER_A, '--image', '../../x', '--json'], cliEnv(root)),
			spawnCli(['report'], cliEnv(root, { MAX_GLOBAL_STORAGE_MB: '-1' }))
		]);
		expect(usage.code).toBe(2);
		expect(jsonOf(usage)).toMatchObject({ ok: false, reason: 'INVALID_NAME' });
		expect(config).toMatchObject({ code: 2, stdout: '' });
		expect(config.stderr).toContain('MAX_GLOBAL_STORAGE_MB');
	});

	it('provider not configured: exit 4', async () => {
		const { root } = await newTempDir();
		const run = await spawnCli(generate, cliEnv(root, { IMAGE_PROVIDER: 'stability' }));
		expect(run.code).toBe(4);
		expect(jsonOf(run)).toMatchObject({ ok: false, reason: 'NOT_CONFIGURED' });
	});

	it('reads .env from its working directory, like the bot', async () => {
		const { dir } = await newTempDir();
		await writeFile(join(dir, '.env'), 'STORAGE_ROOT=./data\nMAX_USER_DAILY_GENS=9\n');
		const run = await spawnCli(['status', '--user', USER_A, '--json'], {}, { cwd: dir });
		expect(run.code, run.stderr).toBe(0);
		expect(jsonOf(run)).toMatchObject({ daily: { limit: 9 } });
		expect((await stat(join(dir, 'data', 'quota.sqlite'))).isFile()).toBe(true);
	});
});
