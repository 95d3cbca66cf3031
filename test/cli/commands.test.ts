import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands.js';
import { StorageManager } from '../../src/plugins/storage/StorageManager.js';
import { LoopbackServer } from '../generation/fakes/loopbackServer.js';
import { pngBytes, USER_A, USER_B } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, newTempDir, removeTempDirs, runInProcess, walkStorage } from './helpers.js';

/*
 * Every command through runCli in this process (the same function the `sapphire-imagine` binary calls):
 * the JSON shapes, the exit codes, configuration, progress and secrets. test/cli/endToEnd.test.ts runs the real binary.
 */

afterEach(removeTempDirs);

interface Json {
	ok?: boolean;
	reason?: string;
	message?: string;
	[key: string]: unknown;
}

async function freshRoot(more: NodeJS.ProcessEnv = {}) {
	const { dir, root } = await newTempDir();
	const env = cliEnv(root, more);
	const cli = (...argv: string[]) => runInProcess(argv, env);
	return { dir, root, env, cli };
}

const generateArgs = (user: string, ...more: string[]) => [
	'generate',
	'--user',
	user,
	'--prompt',
	'a lighthouse at dusk',
	'--width',
	'128',
	'--height',
	'128',
	'--json',
	...more
];

describe('help and usage', () => {
	it.each(commands.map((command) => command.name))(
		'%s --help prints its usage and options, exit 0, without any configuration',
		async (name) => {
			// A broken configuration must not stand between an operator and --help.
			const run = await runInProcess([name, '--help'], { MAX_USER_DAILY_GENS: 'not a number' });
			expect(run.code).toBe(0);
			expect(run.stdout).toMatch(new RegExp(`^Usage: sapphire-imagine ${name}\\b`));
			expect(run.stdout).toContain('--json');
			expect(run.stderr).toBe('');
			expect((await runInProcess(['help', name], {})).stdout).toBe(run.stdout);
			expect((await runInProcess([name, '-h'], {})).stdout).toBe(run.stdout);
		}
	);

	it('--help lists every command and the exit codes; no command at all is a usage error', async () => {
		const help = await runInProcess(['--help'], {});
		expect(help.code).toBe(0);
		for (const command of commands) expect(help.stdout).toContain(`  ${command.synopsis}\n`);
		expect(help.stdout).toContain('3 denied by a quota');
		const nothing = await runInProcess([], {});
		expect(nothing).toMatchObject({ code: 2, stdout: '' });
		expect(nothing.stderr).toContain('Usage: sapphire-imagine <command>');
	});

	it.each([
		[['stauts', '--user', USER_A], /Unknown command "stauts"/],
		[['status'], /Missing --user ID/],
		[['status', '--user', USER_A, '--bogus'], /Unknown option '--bogus'/],
		[['status', '--user', USER_A, 'extra'], /positional/i],
		[['generate', '--user', USER_A], /Missing --prompt TEXT/],
		[['generate', '--user', USER_A, '--prompt', 'x', '--seed', '1.5'], /--seed: expected a whole number/],
		[['generate', '--user', USER_A, '--prompt', 'x', '--seed', '-1'], /ambiguous|--seed/],
		[['report', '--top', '1e3'], /--top: expected a whole number/],
		[['reset', '--user', USER_A], /--daily, --storage, or both/],
		[['limits', '--user', USER_A, '--daily', '-3'], /--daily/],
		[['limits', '--user', USER_A, '--daily', 'ten'], /--daily: expected a whole number/],
		[['limits', '--user', USER_A, '--storage-mb', '0'], /--storage-mb: expected a number of megabytes above 0/],
		[['limits', '--user', USER_A, '--clear', '--daily', '3'], /--clear cannot be combined/]
	])('%j is bad usage: exit 2, the reason on stderr, one JSON object with --json', async (argv, message) => {
		const { env } = await freshRoot();
		const run = await runInProcess(argv, env);
		expect(run.code).toBe(2);
		expect(run.stdout).toBe('');
		expect(run.stderr).toMatch(message);
		const json = await runInProcess([...argv, '--json'], env);
		expect(json.code).toBe(2);
		expect(jsonOf<Json>(json)).toMatchObject({ ok: false, reason: 'USAGE' });
	});
});

describe('configuration', () => {
	it('a bad variable: exit 2, the variable named on stderr; with --json, { ok: false, reason: CONFIG }', async () => {
		const { env } = await freshRoot({ MAX_USER_DAILY_GENS: 'lots' });
		const run = await runInProcess(['status', '--user', USER_A], env);
		expect(run.code).toBe(2);
		expect(run.stdout).toBe('');
		expect(run.stderr).toContain('MAX_USER_DAILY_GENS: expected a whole number');
		const json = jsonOf<Json>(await runInProcess(['status', '--user', USER_A, '--json'], env));
		expect(json).toMatchObject({ ok: false, reason: 'CONFIG' });
		expect(json.problems).toEqual([expect.stringContaining('MAX_USER_DAILY_GENS')]);
	});

	it('STORAGE_ROOT that is a file: exit 2', async () => {
		const { dir } = await newTempDir();
		await writeFile(join(dir, 'file'), 'x');
		const run = await runInProcess(['report'], cliEnv(join(dir, 'file')));
		expect(run.code).toBe(2);
		expect(run.stderr).toContain('STORAGE_ROOT');
	});

	it('reads .env from the working directory; the environment wins; a relative STORAGE_ROOT resolves there', async () => {
		const { dir } = await newTempDir();
		await writeFile(join(dir, '.env'), 'STORAGE_ROOT=data\nMAX_USER_DAILY_GENS=7\nMAX_USER_STORAGE_MB=42\nIMAGE_PROVIDER=preview\n');
		const status = jsonOf<{ daily: { limit: number }; user: { limitMb: number } }>(
			await runInProcess(['status', '--user', USER_A, '--json'], { MAX_USER_STORAGE_MB: '43' }, { cwd: dir })
		);
		expect(status.daily.limit).toBe(7);
		expect(status.user.limitMb).toBe(43);
		expect((await stat(join(dir, 'data', 'quota.sqlite'))).isFile()).toBe(true);
	});

	it('the ledger cannot be opened: exit 1, { ok: false, reason: IO }', async () => {
		const { root } = await newTempDir();
		await mkdir(join(root, 'not-a-file.sqlite'), { recursive: true });
		const run = await runInProcess(['report', '--json'], cliEnv(root, { QUOTA_LEDGER_URI: `sqlite://${join(root, 'not-a-file.sqlite')}` }));
		expect(run.code).toBe(1);
		expect(jsonOf<Json>(run)).toMatchObject({ ok: false, reason: 'IO' });
	});
});

describe('status, generate, images, delete', () => {
	it('status --json is the quota status object', async () => {
		const { cli } = await freshRoot({ MAX_USER_DAILY_GENS: '3' });
		const run = await cli('status', '--user', USER_A, '--json');
		expect(run.code).toBe(0);
		const status = jsonOf<Record<string, Record<string, unknown>>>(run);
		expect(Object.keys(status).sort()).toEqual(['daily', 'global', 'limits', 'user']);
		expect(status.daily).toMatchObject({ used: 0, pending: 0, limit: 3, remaining: 3, allowed: true });
		expect(new Date(status.daily?.resetsAt as string).getUTCHours()).toBe(0);
		expect(status.user).toMatchObject({ usedBytes: 0, files: 0, limitMb: 500 });
		expect(status.limits).toEqual({ source: 'default' });
		const text = await cli('status', '--user', USER_A);
		expect(text.stdout).toContain(`User ${USER_A}`);
		expect(text.stdout).toContain('0 of 3 generations used');
	});

	it('generate --json: { ok: true, image: { id, path, bytes, ... }, status }; the file is on disk; images lists it', async () => {
		const { cli, root } = await freshRoot();
		const run = await cli(...generateArgs(USER_A, '--seed', '7', '--style', 'analog-film'));
		expect(run.code, run.stderr).toBe(0);
		const result = jsonOf<{ ok: true; image: Record<string, unknown>; status: { daily: { used: number } } }>(run);
		expect(result.ok).toBe(true);
		expect(result.image).toMatchObject({
			userId: USER_A,
			temp: false,
			mimeType: 'image/png',
			seed: 7,
			provider: 'preview',
			preview: true,
			width: 128
		});
		expect(result.image.metadata).toMatchObject({ prompt: 'a lighthouse at dusk', style: 'analog-film', seed: 7 });
		expect(result.image).not.toHaveProperty('data');
		expect(result.status.daily.used).toBe(1);
		const id = result.image.id as string;
		const disk = await walkStorage(root);
		expect(disk.images.get(id)).toMatchObject({ path: result.image.path, bytes: result.image.bytes, userId: USER_A });

		const listed = jsonOf<{ ok: true; images: { id: string }[] }>(await cli('images', '--user', USER_A, '--json'));
		expect(listed).toMatchObject({ ok: true, images: [{ id }] });
		expect((await cli('images', '--user', USER_A)).stdout).toContain(id);
		expect((await cli('images', '--user', USER_B, '--json')).stdout.trim()).toBe('{"ok":true,"images":[]}');
	});

	it('delete removes one image and gives its bytes back; a second delete, or another user, is NOT_FOUND (exit 1)', async () => {
		const { cli, root } = await freshRoot();
		const first = jsonOf<{ image: { id: string; path: string; bytes: number } }>(await cli(...generateArgs(USER_A)));
		const second = jsonOf<{ image: { id: string; path: string } }>(await cli(...generateArgs(USER_A)));

		const wrongUser = await cli('delete', '--user', USER_B, '--image', first.image.id, '--json');
		expect(wrongUser.code).toBe(1);
		expect(jsonOf<Json>(wrongUser)).toMatchObject({ ok: false, reason: 'NOT_FOUND' });
		expect((await stat(first.image.path)).isFile()).toBe(true);

		const deleted = await cli('delete', '--user', USER_A, '--image', first.image.id, '--json');
		expect(deleted.code).toBe(0);
		expect(jsonOf<Json>(deleted)).toMatchObject({ ok: true, image: { id: first.image.id }, freedMb: expect.any(Number) });
		await expect(stat(first.image.path)).rejects.toThrow(/ENOENT/);
		expect([...(await walkStorage(root)).images.keys()]).toEqual([second.image.id]);

		const again = await cli('delete', '--user', USER_A, '--image', first.image.id);
		expect(again.code).toBe(1);
		expect(again.stderr).toContain('NOT_FOUND');
		const status = jsonOf<{ user: { files: number; usedBytes: number } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status.user.files).toBe(1);
	});

	it.each([
		['DAILY_LIMIT', { MAX_USER_DAILY_GENS: '0' }],
		['USER_QUOTA', { MAX_USER_STORAGE_MB: '0.5', IMAGE_GEN_SIZE_MB: '1' }],
		['GLOBAL_QUOTA', { MAX_GLOBAL_STORAGE_MB: '0.5', IMAGE_GEN_SIZE_MB: '1' }]
	])('a %s denial exits 3 with { ok: false, reason, message, status }, nothing stored or charged', async (reason, env) => {
		const { cli, root } = await freshRoot(env);
		const run = await cli(...generateArgs(USER_A));
		expect(run.code).toBe(3);
		expect(jsonOf<Json>(run)).toMatchObject({ ok: false, reason, message: expect.any(String), status: expect.any(Object) });
		expect(run.stderr).toContain(`${reason}: `);
		expect((await walkStorage(root)).images.size).toBe(0);
		const status = jsonOf<{ daily: { used: number; pending: number } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status.daily).toMatchObject({ used: 0, pending: 0 });
	});

	it('invalid input (unknown style, seed out of range) exits 2 and refunds the reservation', async () => {
		const { cli } = await freshRoot();
		for (const extra of [
			['--style', 'no-such-style'],
			['--seed', '99999999999']
		]) {
			const run = await cli(...generateArgs(USER_A, ...extra));
			expect(run.code).toBe(2);
			expect(jsonOf<Json>(run)).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		}
		const status = jsonOf<{ daily: { used: number; pending: number } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status.daily).toMatchObject({ used: 0, pending: 0 });
	});

	it('provider failures exit 4: not configured, and credentials refused by the API (the key is never printed)', async () => {
		const notConfigured = await (await freshRoot({ IMAGE_PROVIDER: 'stability' })).cli(...generateArgs(USER_A));
		expect(notConfigured.code).toBe(4);
		expect(jsonOf<Json>(notConfigured)).toMatchObject({ ok: false, reason: 'NOT_CONFIGURED' });

		const key = 'sk-cli-test-0123456789abcdefghijklmnopqrstuvwxyz';
		const server = await LoopbackServer.listen((_request, response) => {
			response.writeHead(401, { 'content-type': 'application/json' });
			response.end(JSON.stringify({ name: 'unauthorized', errors: [`bad key ${key}`] }));
		});
		try {
			const { cli } = await freshRoot({ IMAGE_PROVIDER: 'stability', STABILITY_API_KEY: key, API_HOST: server.url, LOG_LEVEL: 'trace' });
			const run = await cli(...generateArgs(USER_A));
			expect(run.code).toBe(4);
			expect(jsonOf<Json>(run)).toMatchObject({ ok: false, reason: 'AUTH' });
			expect(`${run.stdout}${run.stderr}`).not.toContain(key);
			const status = jsonOf<{ daily: { used: number; pending: number } }>(await cli('status', '--user', USER_A, '--json'));
			expect(status.daily).toMatchObject({ used: 0, pending: 0 });
		} finally {
			await server.close();
		}
	});

	it('a cancelled generation (Ctrl+C) refunds its reservation', async () => {
		const { env, cli } = await freshRoot();
		const controller = new AbortController();
		controller.abort(new Error('SIGINT'));
		const run = await runInProcess(generateArgs(USER_A), env, { signal: controller.signal });
		expect(run.code).toBe(4);
		const status = jsonOf<{ daily: { used: number; pending: number } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status.daily).toMatchObject({ used: 0, pending: 0 });
	});

	it('secrets in the environment never reach stdout or stderr, even at LOG_LEVEL=trace', async () => {
		const token = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.clitokenclitokenclitoken0123';
		const { cli } = await freshRoot({ DISCORD_TOKEN: token, STABILITY_API_KEY: 'sk-another-secret-value-0123456789', LOG_LEVEL: 'trace' });
		const runs = [await cli('status', '--user', USER_A, '--json'), await cli('report'), await cli('reconcile', '--json')];
		for (const run of runs) {
			expect(run.code).toBe(0);
			expect(`${run.stdout}${run.stderr}`).not.toMatch(/clitoken|another-secret/);
		}
	});
});

describe('reset and limits', () => {
	it("reset --daily gives today's allowance back; --storage deletes and lists every saved image", async () => {
		const { cli, root } = await freshRoot({ MAX_USER_DAILY_GENS: '2' });
		const ids = [];
		for (let i = 0; i < 2; i++) ids.push(jsonOf<{ image: { id: string } }>(await cli(...generateArgs(USER_A))).image.id);
		const other = jsonOf<{ image: { id: string } }>(await cli(...generateArgs(USER_B))).image.id;
		expect((await cli(...generateArgs(USER_A))).code).toBe(3);

		const daily = await cli('reset', '--user', USER_A, '--daily', '--json');
		expect(jsonOf<Json>(daily)).toMatchObject({ ok: true, daily: { previous: 2 }, storage: null, status: { daily: { used: 0 } } });

		const storage = await cli('reset', '--user', USER_A, '--storage');
		expect(storage.code).toBe(0);
		for (const id of ids) expect(storage.stdout).toContain(`Deleted ${id}`);
		expect([...(await walkStorage(root)).images.keys()]).toEqual([other]);
		const json = jsonOf<Json>(await cli('reset', '--user', USER_A, '--storage', '--daily', '--json'));
		expect(json).toMatchObject({
			ok: true,
			storage: { deleted: [], freedMb: 0, missing: [], failed: [] },
			status: { user: { files: 0, usedBytes: 0 } }
		});
	});

	it('limits shows the limits in force; --daily / --storage-mb set a persisted override; --clear removes it', async () => {
		const { cli } = await freshRoot({
			ROLE_TIERS: JSON.stringify([{ name: 'Supporter', roleId: '923456789012345678', dailyGens: 20, storageMb: 2000 }])
		});
		expect(jsonOf<Json>(await cli('limits', '--user', USER_A, '--json'))).toMatchObject({
			ok: true,
			changed: null,
			limits: { dailyGens: 5, storageMb: 500, source: 'default' }
		});
		expect(jsonOf<Json>(await cli('limits', '--user', USER_A, '--roles', '923456789012345678', '--json'))).toMatchObject({
			limits: { dailyGens: 20, storageMb: 2000, source: 'tier', tierName: 'Supporter' }
		});
		expect(jsonOf<Json>(await cli('limits', '--user', USER_A, '--daily', '12', '--storage-mb', '1.5', '--json'))).toMatchObject({
			changed: 'set',
			limits: { dailyGens: 12, storageMb: 1.5, source: 'override' }
		});
		// Another process (a new run) sees it.
		const status = jsonOf<{ daily: { limit: number }; limits: { source: string } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status).toMatchObject({ daily: { limit: 12 }, limits: { source: 'override' } });
		expect((await cli('limits', '--user', USER_A)).stdout).toContain('12 generations a day, 1.5 MB of storage');
		expect(jsonOf<Json>(await cli('limits', '--user', USER_A, '--clear', '--json'))).toMatchObject({
			changed: 'cleared',
			limits: { dailyGens: 5, storageMb: 500, source: 'default' }
		});
	});
});

describe('cleanup, reconcile, report', () => {
	async function saveWithClock(root: string, ageMs: number, temp: boolean, userId = USER_A) {
		const manager = await StorageManager.open(
			{ storageRoot: root, cleanupIntervalMinutes: 0, reconcileOnStart: false },
			{ clock: () => Date.now() - ageMs }
		);
		try {
			const saved = await manager.saveImage({ data: pngBytes(4096), userId, temp });
			if (!saved.ok) throw new Error(saved.message);
			return saved.image;
		} finally {
			await manager.close();
		}
	}

	it('cleanup --json: { deleted, freedMb }, only temp files older than STORAGE_CLEANUP_DAYS', async () => {
		const { cli, root } = await freshRoot({ STORAGE_CLEANUP_DAYS: '7' });
		const old = await saveWithClock(root, 8 * 86_400_000, true);
		const young = await saveWithClock(root, 86_400_000, true);
		const saved = await saveWithClock(root, 30 * 86_400_000, false);
		const run = await cli('cleanup', '--json');
		expect(run.code).toBe(0);
		expect(jsonOf(run)).toEqual({ deleted: 1, freedMb: Math.round((old.bytes / 1048576) * 100) / 100 });
		expect([...(await walkStorage(root)).images.keys()].sort()).toEqual([young.id, saved.id].sort());
		expect(jsonOf(await cli('cleanup', '--json'))).toEqual({ deleted: 0, freedMb: 0 });
	});

	it('reconcile --json corrects the ledger from the disk: files deleted or dropped in by hand', async () => {
		const { cli, root } = await freshRoot();
		const gone = await saveWithClock(root, 120_000, false);
		const kept = await saveWithClock(root, 120_000, false);
		await rm(gone.path);
		await rm(gone.path.replace(/\.png$/, '.json'));
		// An image copied in by hand, with a valid name: counted for its user.
		const dropped = join(root, 'images', 'users', USER_B, '0000000000000000.png');
		await mkdir(join(root, 'images', 'users', USER_B), { recursive: true });
		await copyFile(kept.path, dropped);

		const run = await cli('reconcile', '--json');
		expect(run.code).toBe(0);
		expect(jsonOf(run)).toMatchObject({ added: 1, removed: 1, resized: 0, ignored: [], files: 2 });
		const report = jsonOf<{ global: { files: number; usedBytes: number }; tempFiles: number; topUsers: { userId: string }[] }>(
			await cli('report', '--json')
		);
		const disk = await walkStorage(root);
		expect(report.global).toMatchObject({ files: 2, usedBytes: [...disk.images.values()].reduce((sum, image) => sum + image.bytes, 0) });
		expect(report.tempFiles).toBe(0);
		expect(report.topUsers.map((user) => user.userId).sort()).toEqual([USER_A, USER_B].sort());
		expect((await cli('report')).stdout).toContain('Top users');
		expect((await cli('reconcile')).stdout).toMatch(/^Reconciled the ledger with 2 files on disk/);
	});

	it('an empty ledger over a full disk (ledger deleted by hand) is rebuilt before the first answer', async () => {
		const { cli, root } = await freshRoot();
		const image = await saveWithClock(root, 0, false);
		await Promise.all(['quota.sqlite', 'quota.sqlite-wal', 'quota.sqlite-shm'].map((name) => rm(join(root, name), { force: true })));
		const status = jsonOf<{ user: { files: number; usedBytes: number } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status.user).toMatchObject({ files: 1, usedBytes: image.bytes });
	});

	it('progress is drawn on stderr only when it is a terminal; stdout keeps exactly one JSON object', async () => {
		const { env } = await freshRoot();
		for (const command of ['cleanup', 'reconcile']) {
			const tty = await runInProcess([command, '--json'], env, { isTTY: true });
			expect(tty.code).toBe(0);
			jsonOf(tty);
			const clearLine = '\r\u001b[2K';
			expect(tty.stderr.startsWith(clearLine)).toBe(true);
			expect(tty.stderr).toMatch(/. (cleaning up temp files|reconciling the ledger with the disk) \d+\.\d s/);
			expect(tty.stderr.endsWith(clearLine)).toBe(true);
			const piped = await runInProcess([command, '--json'], env, { isTTY: false });
			expect(piped.stderr).toBe('');
			jsonOf(piped);
		}
	});

	it('logs go to stderr as JSON lines, never to stdout', async () => {
		const { cli, root } = await freshRoot({ LOG_LEVEL: 'info' });
		await saveWithClock(root, 0, false);
		await rm(join(root, 'quota.sqlite'));
		const run = await cli('report', '--json');
		jsonOf(run);
		const lines = run.stderr
			.split('\n')
			.filter(Boolean)
			.map((line) => JSON.parse(line) as Record<string, unknown>);
		expect(lines).toContainEqual(expect.objectContaining({ level: 30, msg: 'Command finished', command: 'report', exitCode: 0 }));
		// Without LOG_LEVEL the tool only logs warnings and errors.
		expect((await runInProcess(['report', '--json'], cliEnv(root))).stderr).toBe('');
		expect(await readFile(join(root, 'logs', 'events.jsonl'), 'utf8')).toContain('"type":"reconcile"');
	});
});
