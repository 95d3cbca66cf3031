import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ApplicationCommandRegistries, container, Events } from '@sapphire/framework';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/lib/config.js';
import { inviteUrl } from '../../src/lib/invite.js';
import { createLogger } from '../../src/lib/logger.js';
import { createClient } from '../../src/lib/setup/client.js';
import { readConfiguration } from '../../src/lib/setup/configuration.js';
import { describeLoginFailure, loginOrExit } from '../../src/lib/setup/login.js';
import { shutdown } from '../../src/lib/setup/shutdown.js';
import { StorageManager } from '../../src/plugins/storage/StorageManager.js';
import { makeTempDir } from '../helpers/storageFixtures.js';
import { dispatch, startTestBot, type TestBot } from './helpers/botHarness.js';
import { FakeChatInputInteraction } from './helpers/fakeInteractions.js';
import { isPrivate, isResult, USER_A, userA } from './helpers/flows.js';

let bot: TestBot | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	vi.restoreAllMocks();
	await bot?.close();
	bot = undefined;
	for (const cleanup of cleanups.splice(0)) await cleanup();
});

class Exited extends Error {
	public constructor(public readonly code: number) {
		super(`exit ${code}`);
	}
}

function io() {
	const errors: string[] = [];
	return {
		errors,
		io: {
			error: (message: string) => void errors.push(message),
			exit: (code: number): never => {
				throw new Exited(code);
			}
		}
	};
}

function memoryLogger() {
	const lines: Record<string, unknown>[] = [];
	const logger = createLogger({
		level: 'info',
		destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }
	});
	return { lines, logger };
}

/** Runs a TypeScript file in a child process (tsx, with the project's tsconfig), from `cwd`, with a bare environment. */
function runTsx(args: string[], cwd: string, env: Record<string, string> = {}) {
	const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
	return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
		const child = spawn(tsx, args, {
			cwd,
			env: { PATH: process.env.PATH, HOME: cwd, TSX_TSCONFIG_PATH: fileURLToPath(new URL('../../tsconfig.json', import.meta.url)), ...env }
		});
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
		child.on('close', (code) => resolve({ code, stdout, stderr }));
	});
}

async function tempRoot() {
	const temp = await makeTempDir('imagine-setup-');
	cleanups.push(temp.cleanup);
	return temp.dir;
}

describe('start-up', () => {
	it('stops with a clear message and exit code 2 when DISCORD_TOKEN is missing', async () => {
		const { errors, io: handlers } = io();
		expect(() => readConfiguration({ STORAGE_ROOT: '/tmp' } as NodeJS.ProcessEnv, handlers)).toThrow(new Exited(2));
		expect(errors[0]).toMatch(/^sapphire-imagine cannot start:\nDISCORD_TOKEN is not set: copy \.env\.example to \.env/);
	});

	it('names a malformed token without echoing it', async () => {
		const { errors, io: handlers } = io();
		const token = 'Bot abc.def.ghi-secret-value';
		expect(() => readConfiguration({ STORAGE_ROOT: '/tmp', DISCORD_TOKEN: token } as NodeJS.ProcessEnv, handlers)).toThrow(new Exited(2));
		expect(errors[0]).toContain('DISCORD_TOKEN: expected the bot token alone');
		expect(errors[0]).not.toContain('secret-value');
	});

	it('a token Discord rejects: one clear log line, the storage closed, exit code 1', async () => {
		const { lines, logger } = memoryLogger();
		const exits: number[] = [];
		const client = Object.assign(new EventEmitter(), {
			login: async () => Promise.reject(Object.assign(new Error('An invalid token was provided.'), { code: 'TokenInvalid' })),
			destroy: vi.fn(async () => undefined)
		});
		const storage = { close: vi.fn(async () => undefined) };
		Reflect.set(container, 'storage', storage);
		await loginOrExit(client as never, 'token-value-1234567890', logger, (code) => void exits.push(code));
		Reflect.deleteProperty(container, 'storage');
		expect(exits).toEqual([1]);
		expect(lines).toEqual([
			expect.objectContaining({
				level: 60,
				msg: expect.stringMatching(/^Discord rejected DISCORD_TOKEN: reset it in the Developer Portal/)
			})
		]);
		expect(client.destroy).toHaveBeenCalled();
		expect(storage.close).toHaveBeenCalled();
		expect(describeLoginFailure({ code: 'ENOTFOUND' })).toBe("Could not reach Discord (ENOTFOUND): check this machine's network.");
	});

	it('the real entry point exits with code 2 and the message when DISCORD_TOKEN is missing', async () => {
		const cwd = await tempRoot();
		const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
		const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
		const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
			const child = spawn(tsx, [entry], {
				cwd,
				env: {
					PATH: process.env.PATH,
					HOME: cwd,
					STORAGE_ROOT: `${cwd}/root`,
					TSX_TSCONFIG_PATH: fileURLToPath(new URL('../../tsconfig.json', import.meta.url))
				}
			});
			let stderr = '';
			child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
			child.on('close', (code) => resolve({ code, stderr }));
		});
		expect(code).toBe(2);
		expect(stderr).toContain('DISCORD_TOKEN is not set');
	});

	it("Sapphire's own folder loader finds every piece of the bot, whatever the working directory, and no second error reporter", async () => {
		const cwd = await tempRoot();
		const script = fileURLToPath(new URL('./fixtures/loadPiecesFromFolders.ts', import.meta.url));
		const { code, stdout } = await runTsx([script, `${cwd}/root`], cwd);
		expect(code).toBe(0);
		const loaded = JSON.parse(stdout) as Record<string, string[]>;
		expect(loaded.commands).toEqual(['images', 'imagine', 'imagine-settings', 'quota', 'quota-admin', 'reimagine', 'storage', 'upscale']);
		expect(loaded['interaction-handlers']).toEqual(['galleryButtons', 'resultButtons']);
		// PluginSubcommandCooldown comes with the subcommands plugin's register: subcommands with cooldowns need it.
		expect(loaded.preconditions).toEqual(
			expect.arrayContaining(['OwnerOnly', 'DailyLimit', 'UserStorage', 'GlobalStorage', 'PluginSubcommandCooldown'])
		);
		expect(loaded.listeners).toEqual(
			expect.arrayContaining([
				'ready',
				'chatInputCommandDenied',
				'chatInputCommandError',
				'chatInputSubcommandError',
				'commandAutocompleteInteractionError',
				'commandApplicationCommandRegistryError',
				'interactionHandlerError',
				'interactionHandlerParseError',
				'listenerError'
			])
		);
		// Each error is reported once: CoreChatInputCommandError, CoreListenerError, PluginChatInputSubcommandError...
		// (the framework's and the subcommands plugin's error listeners) would log it a second time.
		expect(loaded.listeners!.filter((name) => /^(Core|Plugin).*Error$/.test(name))).toEqual([]);
	});

	it('when ready, logs once: the provider, limits and storage root; the invite link; the servers; the command scope', async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 7, maxUserStorageMb: 300, maxGlobalStorageMb: 4000 } });
		const info = vi.spyOn(container.logger, 'info').mockImplementation(() => undefined);
		// Run directly: emitting clientReady would also start Sapphire's own ready work (command registration with Discord).
		const listener = container.stores.get('listeners').get('ready')!;
		expect(listener.event).toBe(Events.ClientReady);
		expect(listener.once).toBe(true);
		const guilds = new Map([['223456789012345678', { id: '223456789012345678', name: 'Test server' }]]);
		await listener.run({ user: { tag: 'Imagine#0001' }, application: { id: '123456789012345678' }, guilds: { cache: guilds } });
		expect(info.mock.calls.map((args) => args[0])).toEqual([
			`Ready as Imagine#0001: provider preview (offline placeholders); limits 7/day, 300 MB per user, 4000 MB in all; storage ${bot.root}`,
			`Invite link (scopes bot, applications.commands; permissions 274877959168: View Channel, Send Messages, Send Messages in Threads, Embed Links, Attach Files): ${inviteUrl('123456789012345678')}`,
			'In 1 server: Test server (223456789012345678)',
			'Slash commands are registered globally (COMMAND_GUILD_IDS is empty): a change can take a while to show everywhere.'
		]);
	});

	it('COMMAND_GUILD_IDS makes those servers the default for every command; without it commands are global', async () => {
		const root = await tempRoot();
		const { logger } = memoryLogger();
		const guildClient = createClient(loadConfig({ STORAGE_ROOT: root, COMMAND_GUILD_IDS: '223456789012345678' }), logger);
		expect(ApplicationCommandRegistries.getDefaultGuildIds()).toEqual(['223456789012345678']);
		await guildClient.destroy();
		const globalClient = createClient(loadConfig({ STORAGE_ROOT: root }), logger);
		expect(ApplicationCommandRegistries.getDefaultGuildIds()).toBeUndefined();
		await globalClient.destroy();
	});
});

describe('shutdown (SIGINT / SIGTERM)', () => {
	it('stops taking jobs, lets running ones finish and deliver, then closes the ledger', async () => {
		bot = await startTestBot();
		const { logger } = memoryLogger();
		const generate = container.generator.textToImage.bind(container.generator);
		vi.spyOn(container.generator, 'textToImage').mockImplementation(async (request, call) => {
			await new Promise((resolve) => setTimeout(resolve, 300));
			return generate(request, call);
		});
		const running = new FakeChatInputInteraction({ command: 'imagine', user: userA, options: { prompt: 'finish me' } });
		dispatch(bot.client, running);
		await vi.waitFor(() => expect(container.imageJobs.running).toBe(1));
		const stopping = shutdown(bot.client, logger, { graceMs: 10_000, exit: () => undefined });
		const late = new FakeChatInputInteraction({ command: 'imagine', user: userA, options: { prompt: 'too late' } });
		dispatch(bot.client, late);

		expect(await stopping).toBe(0);
		expect(running.calls.some(isResult)).toBe(true);
		const refused = await late.waitFor(isPrivate);
		expect(refused.payload!.embeds[0]!.description).toContain('restarting');
		await expect(container.storage.getQuotaStatus(USER_A)).rejects.toThrow();
		const reopened = await StorageManager.open({ storageRoot: bot.root, cleanupIntervalMinutes: 0 });
		expect((await reopened.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
		await reopened.close();
	});

	it('cancels jobs still running after the grace period and gives their quota back', async () => {
		bot = await startTestBot();
		const { logger } = memoryLogger();
		vi.spyOn(container.generator, 'textToImage').mockImplementation(
			(_request, call) =>
				new Promise((resolve) =>
					call?.signal?.addEventListener('abort', () =>
						resolve({ ok: false, reason: 'UNAVAILABLE', message: 'The request was cancelled. Nothing was charged.' })
					)
				)
		);
		const stuck = new FakeChatInputInteraction({ command: 'imagine', user: userA, options: { prompt: 'never ends' } });
		dispatch(bot.client, stuck);
		await vi.waitFor(async () => expect((await container.storage.getQuotaStatus(USER_A)).daily.pending).toBe(1));

		expect(await shutdown(bot.client, logger, { graceMs: 50, exit: () => undefined })).toBe(0);
		const told = await stuck.waitFor(isPrivate);
		expect(told.payload!.embeds[0]!.description).toContain('cancelled');
		const reopened = await StorageManager.open({ storageRoot: bot.root, cleanupIntervalMinutes: 0 });
		expect((await reopened.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
		await reopened.close();
	});
});
