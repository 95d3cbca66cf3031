import { copyFile, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inviteUrl } from '../../src/lib/invite.js';
import { SqliteConnection } from '../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { DiscordStandIn } from '../helpers/discord/DiscordStandIn.js';
import { freshClone, runCommand, shellEnv, startCommand, type FreshClone, type Started } from './freshClone.js';

/*
 * A new bot owner's first hour, as the README tells it, on a fresh clone in a temp folder: `npm install`, `cp
 * .env.example .env` with the token, `npm run -s cli -- doctor`, `npm start` (with DISCORD_TOKEN in the
 * environment, as the quick start has it, and from .env), Ctrl+C. Discord is the stand-in on 127.0.0.1
 * (test/helpers/discord), which the bot reaches through DISCORD_API_URL: it accepts the token or refuses it
 * on purpose, and records the commands the bot registers. The output is read on a pseudo-terminal (util-linux
 * `script`, what a person sees) and in a pipe (what a process manager sees).
 */

let clone: FreshClone;
let discord: DiscordStandIn;
const running = new Set<Started>();

const SERVER = 'Test server';

beforeAll(async () => {
	clone = await freshClone();
	discord = await DiscordStandIn.start({ guilds: [{ name: SERVER }] });
}, 60_000);

afterAll(async () => {
	for (const command of running) command.kill('SIGKILL');
	await discord?.stop();
	await clone?.remove();
});

/** The clone's environment: a person's shell, plus where the stand-in is (a testing-only variable). */
function env(more: Record<string, string> = {}): NodeJS.ProcessEnv {
	return shellEnv(clone.dir, { DISCORD_API_URL: discord.apiUrl, ...more });
}

function start(command: string, options: { terminal: boolean; env?: Record<string, string> }): Started {
	const started = startCommand(command, clone.dir, env(options.env), { terminal: options.terminal });
	running.add(started);
	void started.exited.then(() => running.delete(started));
	return started;
}

const INVITE = /Invite link \(scopes bot, applications\.commands; permissions 274877959168: .*\): (https:\/\/\S+)/;

describe.sequential("a new owner's first hour, on a fresh clone", () => {
	it('npm install: everything is in place, exit 0', async () => {
		// The README's `npm install`, kept off the network: the packages were copied in beside the clone.
		const install = await runCommand('npm install --offline --no-audit --no-fund', clone.dir, env());
		expect(install.code, install.output).toBe(0);
	}, 120_000);

	it('doctor before the token is set: DISCORD_TOKEN is missing and where to get it, exit 2', async () => {
		const doctor = await runCommand('npm run -s cli -- doctor', clone.dir, env());
		expect(doctor.code, doctor.output).toBe(2);
		expect(doctor.output).toMatch(/^FAIL {2}configuration {2}DISCORD_TOKEN is not set: the bot cannot log in/m);
		expect(doctor.output).toContain('Developer Portal -> your application -> Bot -> Reset Token');
	}, 60_000);

	it('cp .env.example .env with the token: doctor passes, exit 0', async () => {
		await copyFile(join(clone.dir, '.env.example'), join(clone.dir, '.env'));
		const dotEnv = await readFile(join(clone.dir, '.env'), 'utf8');
		await writeFile(join(clone.dir, '.env'), dotEnv.replace(/^DISCORD_TOKEN=$/m, `DISCORD_TOKEN=${discord.token}`));
		const doctor = await runCommand('npm run -s cli -- doctor', clone.dir, env());
		expect(doctor.code, doctor.output).toBe(0);
		expect(doctor.output).toMatch(/^ok {4}configuration {2}read from .*\.env and the environment/m);
		expect(doctor.output).toMatch(/^ok {4}provider {7}preview: /m);
		expect(doctor.output.trimEnd().split('\n').at(-1)).toBe('Ready.');
		expect(doctor.output).not.toContain(discord.token);
	}, 60_000);

	it('DISCORD_TOKEN=... npm start, piped: JSON lines; logged in, the invite link, the server, commands registered globally', async () => {
		const bot = start(`DISCORD_TOKEN=${discord.token} npm start`, { terminal: false });
		const invite = await bot.waitFor(/"msg":"Invite link/, 240_000);
		await bot.waitFor(/"msg":"Slash commands are registered globally/);
		const lines = bot.lines().filter((line) => line.startsWith('{'));
		const entries = lines.map((line) => JSON.parse(line) as { msg: string; level: number; inviteUrl?: string; servers?: unknown });
		expect(entries.map((entry) => entry.msg)).toEqual(
			expect.arrayContaining([
				expect.stringMatching(/^Ready as Imagine(#\d{4})?: provider preview \(offline placeholders\)/),
				`In 1 server: ${SERVER} (${discord.guild.id})`
			])
		);
		const url = (JSON.parse(invite) as { details: { inviteUrl: string } }).details.inviteUrl;
		expect(url).toBe(inviteUrl(discord.applicationId));
		expect(url).toBe(
			`https://discord.com/oauth2/authorize?client_id=${discord.applicationId}&permissions=274877959168&scope=bot+applications.commands`
		);
		expect(entries.filter((entry) => entry.msg.startsWith('Invite link'))).toHaveLength(1);
		// Sapphire registers the commands once ready: globally, none in the server.
		await expect
			.poll(() =>
				discord
					.commands('global')
					.map((command) => command.name)
					.sort()
			)
			.toContain('imagine');
		expect(discord.commands(discord.guild.id)).toEqual([]);
		expect(bot.output()).not.toContain(discord.token);

		bot.kill('SIGTERM');
		await bot.waitFor(/"msg":"Stopped"/, 30_000);
		await bot.exited;
	}, 300_000);

	it('npm start on a terminal, from .env, with COMMAND_GUILD_IDS: readable lines, commands in the test server only; Ctrl+C stops it', async () => {
		const bot = start('npm start', { terminal: true, env: { COMMAND_GUILD_IDS: discord.guild.id } });
		const invite = await bot.waitFor(INVITE, 240_000);
		expect(invite).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}Invite link/);
		expect(INVITE.exec(invite)![1]).toBe(inviteUrl(discord.applicationId));
		await bot.waitFor(/INFO {2}Slash commands are registered in server \d+ only \(COMMAND_GUILD_IDS\)\.$/);
		expect(bot.lines()).toEqual(
			expect.arrayContaining([expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}Ready as Imagine(#\d{4})?: provider preview/)])
		);
		expect(bot.lines().some((line) => line.startsWith('{"level"'))).toBe(false);
		await expect.poll(() => discord.commands(discord.guild.id).map((command) => command.name)).toContain('imagine');
		// The bulk overwrite of the global list empties it: no command is listed twice in the server.
		expect(discord.commands('global')).toEqual([]);

		bot.type('\u0003');
		await bot.waitFor(/INFO {2}Stopped$/, 30_000);
		await bot.exited;
	}, 300_000);

	it('a token Discord rejects: one line saying what to do, exit 1', async () => {
		discord.faults.rejectToken = true;
		try {
			const bot = await runCommand('npm start', clone.dir, env(), 240_000);
			expect(bot.code).toBe(1);
			expect(bot.output).toContain('"msg":"Discord rejected DISCORD_TOKEN: reset it in the Developer Portal');
		} finally {
			discord.faults.rejectToken = false;
		}
	}, 300_000);

	it('doctor on a broken set-up: a damaged ledger and a bad variable, exit 2, each with what to do', async () => {
		// Everything written back into the file (the bot is stopped), then every page after the first made garbage.
		const ledger = join(clone.dir, 'shared', 'quota.sqlite');
		const connection = await SqliteConnection.open(ledger, 1000);
		await connection.exec('PRAGMA wal_checkpoint(TRUNCATE)');
		await connection.close();
		const file = await open(ledger, 'r+');
		const { size } = await file.stat();
		await file.write(Buffer.alloc(size - 4096, 0xff), 0, size - 4096, 4096);
		await file.close();
		const damaged = await runCommand('npm run -s cli -- doctor', clone.dir, env());
		expect(damaged.code, damaged.output).toBe(2);
		expect(damaged.output).toMatch(/^FAIL {2}ledger {9}\S+quota\.sqlite (is damaged|cannot be read: SQLITE_CORRUPT)/m);
		expect(size).toBeGreaterThan(4096);
		expect(damaged.output).toContain('and start again: a new ledger is rebuilt from the stored images');

		const badVariable = await runCommand('npm run -s cli -- doctor', clone.dir, env({ MAX_USER_DAILY_GENS: 'five' }));
		expect(badVariable.code).toBe(2);
		expect(badVariable.output).toContain('MAX_USER_DAILY_GENS: expected a whole number of generations per day, 0 or more (got "five")');
	}, 60_000);
});
