import { afterEach, describe, expect, it } from 'vitest';
import { StorageManager } from '../../src/plugins/storage/StorageManager.js';
import { defaultGuildSettings, USER_A } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, newTempDir, removeTempDirs, runInProcess } from './helpers.js';

/** The owners' controls through the command-line tool: the --json shapes and the exit codes. */

afterEach(removeTempDirs);

const GUILD = '111111111111111111';

async function freshCli(more: NodeJS.ProcessEnv = {}) {
	const { root } = await newTempDir();
	const env = cliEnv(root, more);
	return Object.assign((...argv: string[]) => runInProcess(argv, env), { root });
}

const generate = (prompt: string, ...more: string[]) => [
	'generate',
	'--user',
	USER_A,
	'--prompt',
	prompt,
	'--width',
	'128',
	'--height',
	'128',
	'--json',
	...more
];

describe('blocklist', () => {
	it('add, list and remove print the resulting list; the config entries are listed as such', async () => {
		const cli = await freshCli({ PROMPT_BLOCKLIST: 'Nüde, blood bath' });
		const added = await cli('blocklist', 'add', 'Dragon', 'sea serpent', '--json');
		expect(added.code).toBe(0);
		expect(jsonOf(added)).toEqual({
			ok: true,
			guildId: null,
			added: ['dragon', 'sea serpent'],
			entries: [
				{ entry: 'nude', source: 'config' },
				{ entry: 'blood bath', source: 'config' },
				{ entry: 'dragon', source: 'owner' },
				{ entry: 'sea serpent', source: 'owner' }
			]
		});
		const server = await cli('blocklist', 'add', 'kraken', '--guild', GUILD, '--json');
		expect(jsonOf(server)).toMatchObject({ ok: true, guildId: GUILD, entries: [{ entry: 'kraken', source: 'server' }] });
		const removed = await cli('blocklist', 'remove', 'DRAGON', 'unicorn', '--json');
		expect(jsonOf(removed)).toMatchObject({ ok: true, removed: ['dragon'], notFound: ['unicorn'] });
		const listed = await cli('blocklist', 'list');
		expect(listed.code).toBe(0);
		expect(listed.stdout).toContain('nude  (PROMPT_BLOCKLIST)');
		expect(listed.stdout).toContain('sea serpent');
		expect(listed.stdout).not.toContain('dragon');
	});

	it('a blocked prompt: generate exits 3 with PROMPT_BLOCKED, in the server whose list has it (--guild)', async () => {
		const cli = await freshCli({ PROMPT_BLOCKLIST: 'nude' });
		const refused = await cli(...generate('a n.u.d.e statue'));
		expect(refused.code).toBe(3);
		expect(jsonOf(refused)).toMatchObject({ ok: false, reason: 'PROMPT_BLOCKED' });
		expect(refused.stderr.toLowerCase()).not.toContain('nude');

		await cli('blocklist', 'add', 'kraken', '--guild', GUILD);
		expect((await cli(...generate('a kraken', '--guild', GUILD))).code).toBe(3);
		expect((await cli(...generate('a kraken'))).code).toBe(0);
		const status = jsonOf<{ daily: { used: number } }>(await cli('status', '--user', USER_A, '--json'));
		expect(status.daily.used).toBe(1);
	});

	it('mistakes exit 2 and change nothing: no action, an unknown one, no words, a pattern for a server, a bad pattern or id', async () => {
		const cli = await freshCli();
		for (const argv of [
			['blocklist'],
			['blocklist', 'purge'],
			['blocklist', 'add'],
			['blocklist', 'list', 'extra'],
			['blocklist', 'add', '/x+/', '--guild', GUILD],
			['blocklist', 'add', '/(/'],
			['blocklist', 'add', 'fine', '--guild', '12']
		]) {
			const run = await cli(...argv, '--json');
			expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
			expect(jsonOf(run)).toMatchObject({ ok: false });
		}
		expect(jsonOf(await cli('blocklist', 'list', '--json'))).toMatchObject({ entries: [] });
		expect(jsonOf(await cli('blocklist', 'list', '--guild', GUILD, '--json'))).toMatchObject({ entries: [] });
	});

	it('PROMPT_BLOCKLIST with a bad pattern is a configuration error naming the variable (exit 2)', async () => {
		const cli = await freshCli({ PROMPT_BLOCKLIST: 'ok, /(/' });
		const run = await cli('blocklist', 'list');
		expect(run.code).toBe(2);
		expect(run.stderr).toMatch(/PROMPT_BLOCKLIST.*not a valid regular expression/);
	});
});

describe('block and unblock', () => {
	it('block --json prints the block; generate then exits 3 with USER_BLOCKED; unblock lifts it and prints what is left', async () => {
		const cli = await freshCli();
		const blocked = await cli('block', '--user', USER_A, '--reason', 'spam', '--until', '2999-01-01', '--json');
		expect(blocked.code).toBe(0);
		expect(jsonOf(blocked)).toMatchObject({
			ok: true,
			block: { userId: USER_A, guildId: null, reason: 'spam', until: '2999-01-01T00:00:00.000Z' }
		});
		await cli('block', '--user', USER_A, '--guild', GUILD);
		const refused = await cli(...generate('a lighthouse'));
		expect(refused.code).toBe(3);
		expect(jsonOf(refused)).toMatchObject({ ok: false, reason: 'USER_BLOCKED', message: expect.stringContaining('Reason: spam') });

		const lifted = await cli('unblock', '--user', USER_A, '--json');
		expect(lifted.code).toBe(0);
		expect(jsonOf(lifted)).toMatchObject({ ok: true, userId: USER_A, guildId: null, lifted: { reason: 'spam' }, blocked: null });
		expect((await cli(...generate('a lighthouse'))).code).toBe(0);
		expect((await cli(...generate('a lighthouse', '--guild', GUILD))).code).toBe(3);
		const again = await cli('unblock', '--user', USER_A, '--json');
		expect(jsonOf(again)).toMatchObject({ ok: true, lifted: null });
	});

	it('mistakes exit 2: an end in the past, a time without its zone, no user, a bad server id', async () => {
		const cli = await freshCli();
		for (const argv of [
			['block', '--user', USER_A, '--until', '2001-01-01'],
			['block', '--user', USER_A, '--until', '2999-01-01T10:00'],
			['block', '--user', USER_A, '--until', 'tomorrow'],
			['block'],
			['unblock', '--user', USER_A, '--guild', '5']
		]) {
			const run = await cli(...argv, '--json');
			expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
		}
		expect((await cli(...generate('a lighthouse'))).code).toBe(0);
	});
});

describe('the job caps', () => {
	it("generate exits 3 with TOO_MANY_JOBS while the user's jobs in another process fill the cap", async () => {
		const cli = await freshCli({ MAX_JOBS_PER_USER: '1' });
		// Another process (a bot shard) has one job of the user under way.
		const shard = await StorageManager.open({ storageRoot: cli.root, cleanupIntervalMinutes: 0, maxJobsPerUser: 1 });
		try {
			const held = await shard.reserve(USER_A, { job: true });
			expect(held.ok).toBe(true);
			const refused = await cli(...generate('a lighthouse'));
			expect(refused.code).toBe(3);
			expect(jsonOf(refused)).toMatchObject({ ok: false, reason: 'TOO_MANY_JOBS' });
			if (held.ok) await shard.release(held.reservation);
			expect((await cli(...generate('a lighthouse'))).code).toBe(0);
		} finally {
			await shard.close();
		}
	});

	it('MAX_QUEUED_PER_USER without MAX_JOBS_PER_USER is a configuration error naming it (exit 2)', async () => {
		const cli = await freshCli({ MAX_QUEUED_PER_USER: '3' });
		const run = await cli('status', '--user', USER_A);
		expect(run.code).toBe(2);
		expect(run.stderr).toMatch(/MAX_QUEUED_PER_USER.*MAX_JOBS_PER_USER/);
	});
});

describe('settings', () => {
	const CHANNEL = '444444444444444444';
	it('settings --guild shows and changes a server; generate --guild --channel meets its gates (NOT_HERE, exit 3)', async () => {
		const cli = await freshCli();
		const shown = await cli('settings', '--guild', GUILD, '--json');
		expect(jsonOf(shown)).toEqual({
			ok: true,
			settings: defaultGuildSettings(GUILD)
		});
		const changed = await cli('settings', '--guild', GUILD, '--channels', CHANNEL, '--member-daily', '1', '--json');
		expect(changed.code).toBe(0);
		expect(jsonOf(changed)).toMatchObject({ settings: { channelIds: [CHANNEL], memberDailyGens: 1, enabled: true } });
		const elsewhere = await cli(...generate('a lighthouse', '--guild', GUILD, '--channel', '555555555555555555'));
		expect(elsewhere.code).toBe(3);
		expect(jsonOf(elsewhere)).toMatchObject({ reason: 'NOT_HERE' });
		expect((await cli(...generate('a lighthouse', '--guild', GUILD, '--channel', CHANNEL))).code).toBe(0);
		expect(jsonOf(await cli(...generate('a lighthouse', '--guild', GUILD, '--channel', CHANNEL)))).toMatchObject({ reason: 'DAILY_LIMIT' });
		await cli('settings', '--guild', GUILD, '--enabled', 'off');
		expect(jsonOf(await cli(...generate('a lighthouse', '--guild', GUILD)))).toMatchObject({ reason: 'NOT_HERE' });
		expect((await cli(...generate('a lighthouse'))).code).toBe(0);
	});

	it('settings --nsfw-lax true|false: with ALLOW_NSFW_LAX=true it is kept and printed; the CLI itself is never an age-restricted channel', async () => {
		const cli = await freshCli({ ALLOW_NSFW_LAX: 'true' });
		const on = await cli('settings', '--guild', GUILD, '--nsfw-lax', 'true', '--json');
		expect(on.code).toBe(0);
		expect(jsonOf(on)).toEqual({
			ok: true,
			settings: defaultGuildSettings(GUILD, { nsfwLax: true })
		});
		const shown = await cli('settings', '--guild', GUILD);
		expect(shown.stdout).toContain('Laxer setting in age-restricted channels: on');
		// The server's own list still applies to the command-line tool: it asks from no channel.
		await cli('blocklist', 'add', 'kraken', '--guild', GUILD);
		expect(jsonOf(await cli(...generate('a kraken', '--guild', GUILD)))).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		const off = await cli('settings', '--guild', GUILD, '--nsfw-lax', 'false', '--json');
		expect(jsonOf(off)).toMatchObject({ ok: true, settings: { nsfwLax: false } });
	});

	it('settings --nsfw-lax true while ALLOW_NSFW_LAX is not true: refused, saying the owner does not allow it (exit 2), nothing changed', async () => {
		const cli = await freshCli();
		const refused = await cli('settings', '--guild', GUILD, '--nsfw-lax', 'true', '--member-daily', '2', '--json');
		expect(refused.code).toBe(2);
		expect(jsonOf(refused)).toMatchObject({
			ok: false,
			reason: 'INVALID_INPUT',
			message: expect.stringContaining("The bot's owner does not allow a laxer setting in age-restricted channels")
		});
		expect(jsonOf(await cli('settings', '--guild', GUILD, '--json'))).toMatchObject({
			settings: { nsfwLax: false, memberDailyGens: null }
		});
		const wrong = await (await freshCli({ ALLOW_NSFW_LAX: 'maybe' }))('settings', '--guild', GUILD);
		expect(wrong.code).toBe(2);
		expect(wrong.stderr).toContain('ALLOW_NSFW_LAX: expected true or false (got "maybe")');
	});

	it('mistakes exit 2: no --guild, a bad switch, ids or number, --channel without --guild', async () => {
		const cli = await freshCli();
		for (const argv of [
			['settings'],
			['settings', '--guild', GUILD, '--enabled', 'maybe'],
			['settings', '--guild', GUILD, '--channels', '1,2'],
			['settings', '--guild', GUILD, '--member-daily', '-3'],
			['settings', '--guild', GUILD, '--nsfw-lax', 'maybe'],
			['settings', '--guild', GUILD, '--nsfw-lax', 'on'],
			['generate', '--user', USER_A, '--prompt', 'x', '--channel', GUILD]
		]) {
			const run = await cli(...argv, '--json');
			expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
		}
	});
});

describe('budget', () => {
	it('budget --json is { day, global: { spent, reserved, budget } } (and user with --user); --global and --user ID N set budgets', async () => {
		const cli = await freshCli({ DAILY_CREDIT_BUDGET: '100', CREDIT_COSTS: '{"preview":{"text-to-image":2.5}}' });
		const shown = await cli('budget', '--json');
		expect(shown.code).toBe(0);
		expect(jsonOf(shown)).toEqual({ day: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), global: { spent: 0, reserved: 0, budget: 100 } });
		expect((await cli(...generate('a lighthouse'))).code).toBe(0);
		const set = await cli('budget', '--global', '4', '--user', USER_A, '2.5', '--json');
		expect(jsonOf(set)).toEqual({
			day: expect.any(String),
			global: { spent: 2.5, reserved: 0, budget: 4 },
			user: { id: USER_A, spent: 2.5, reserved: 0, budget: 2.5 }
		});
		const refused = await cli(...generate('a lighthouse'));
		expect(refused.code).toBe(3);
		expect(jsonOf(refused)).toMatchObject({ ok: false, reason: 'CREDIT_BUDGET' });
		const report = jsonOf<{ credits: { today: { spent: number }; last30Days: { spent: number }[] } }>(await cli('report', '--json'));
		expect(report.credits.today.spent).toBe(2.5);
		expect(report.credits.last30Days).toHaveLength(30);
		expect(report.credits.last30Days.at(-1)?.spent).toBe(2.5);
		expect(jsonOf(await cli('budget', '--global', 'none', '--json'))).toMatchObject({ global: { budget: 100 } });
	});

	it("budget --guild ID N sets a server's budget (GUILD_DAILY_CREDIT_BUDGET for the others); its members are refused past it, exit 3", async () => {
		const cli = await freshCli({ GUILD_DAILY_CREDIT_BUDGET: '50', CREDIT_COSTS: '{"preview":{"text-to-image":2.5}}' });
		const guild = '810000000000000001';
		expect(jsonOf(await cli('budget', '--guild', guild, '--json'))).toEqual({
			day: expect.any(String),
			global: { spent: 0, reserved: 0, budget: null },
			guild: { id: guild, spent: 0, reserved: 0, budget: 50 }
		});
		expect(jsonOf(await cli('budget', '--guild', guild, '2.5', '--json'))).toMatchObject({ guild: { id: guild, budget: 2.5 } });
		expect((await cli(...generate('a lighthouse', '--guild', guild))).code).toBe(0);
		const refused = await cli(...generate('a lighthouse', '--guild', guild));
		expect(refused.code).toBe(3);
		expect(jsonOf(refused)).toMatchObject({ ok: false, reason: 'CREDIT_BUDGET' });
		// Outside that server the user still generates.
		expect((await cli(...generate('a lighthouse'))).code).toBe(0);
		expect(jsonOf(await cli('budget', '--guild', guild, '--json'))).toMatchObject({
			global: { spent: 5 },
			guild: { spent: 2.5, budget: 2.5 }
		});
	});

	it('mistakes exit 2: a budget without --user, two of them, a negative or malformed number, bad CREDIT_COSTS', async () => {
		const cli = await freshCli();
		for (const argv of [
			['budget', '5'],
			['budget', '--user', USER_A, '1', '2'],
			['budget', '--global', '-1'],
			['budget', '--global', '1e3'],
			['budget', '--user', USER_A, '--guild', '810000000000000001', '1'],
			['budget', '--guild', 'not-a-server', '1']
		]) {
			const run = await cli(...argv, '--json');
			expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
		}
		const bad = await (await freshCli({ CREDIT_COSTS: '{"stability":{"txt2img":3}}' }))('budget');
		expect(bad.code).toBe(2);
		expect(bad.stderr).toContain('CREDIT_COSTS');
	});
});
