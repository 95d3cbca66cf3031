import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBotProcess, type BotProcess } from '../helpers/discord/botProcess.js';
import { DiscordStandIn } from '../helpers/discord/DiscordStandIn.js';
import { callbacksOf, CALLBACK_ROUTE, type RecordedRequest } from '../helpers/discord/recorder.js';
import { makeTempDir } from '../helpers/storageFixtures.js';

/**
 * The real bot (src/index.ts in its own process: real discord.js REST and gateway, the real SapphireClient
 * with both plugins, the preview provider, a temp storage root) against the Discord stand-in.
 */

const EPHEMERAL = 1 << 6;
const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');
const cleanups: (() => Promise<unknown>)[] = [];

async function tempFolder() {
	const temp = await makeTempDir('imagine-standin-');
	cleanups.push(temp.cleanup);
	return { cwd: temp.dir, storageRoot: join(temp.dir, 'root') };
}

/** What a pino line says, or null for a line that is not JSON. */
function logLine(line: string): { level?: number; msg?: string; err?: { message?: string } } | null {
	try {
		return JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
	} catch {
		return null;
	}
}

describe('the bot against the Discord stand-in', () => {
	let discord: DiscordStandIn;
	let bot: BotProcess;

	beforeAll(async () => {
		// A generous acknowledgement window: this test proves the flows, not the latency (npm run bench measures that),
		// and a cold child process on a busy machine may take longer than Discord's 3 s for its first answer.
		discord = await DiscordStandIn.start({ acknowledgeWithinMs: 20_000 });
		bot = startBotProcess(discord, await tempFolder());
		await bot.waitForLine(/Ready as Imagine/, 60_000);
	}, 90_000);

	afterAll(async () => {
		const code = await bot?.stop();
		await discord?.stop();
		for (const cleanup of cleanups.splice(0)) await cleanup();
		expect(code).toBe(0);
	}, 60_000);

	it('logs in (IDENTIFY with the Guilds intent only), warns that DISCORD_API_URL is set, and registers its commands with one bulk overwrite', async () => {
		expect(discord.gateway.identifies).toEqual([expect.objectContaining({ tokenAccepted: true, intents: 1, closedWith: null })]);
		expect(bot.lines.map(logLine).find((line) => line?.msg?.startsWith('DISCORD_API_URL is set'))).toMatchObject({ level: 40 });
		await discord.recorder.waitForRequest((request) => request.route === 'PUT /applications/:applicationId/commands');
		const names = discord.commands().map((command) => command.name);
		expect(names.sort()).toEqual(['images', 'imagine', 'imagine-settings', 'quota', 'quota-admin', 'reimagine', 'storage', 'upscale']);
		expect(discord.recorder.requestsTo('PUT /applications/:applicationId/commands').map((request) => request.status)).toEqual([200]);
		expect(discord.recorder.unknownRoutes).toEqual([]);
	});

	it('/quota: exactly one callback, an ephemeral embed, and nothing after it', async () => {
		const timeline = discord.chatInput({ name: 'quota' });
		await discord.recorder.waitForInteractionCall(timeline.id, (call) => call.route === CALLBACK_ROUTE);
		await sleep(500);

		expect(timeline.calls).toHaveLength(1);
		const [callback] = timeline.calls as [RecordedRequest];
		expect(callback.status).toBe(204);
		const body = callback.body as { type: number; data: { flags: number; embeds: { title?: string; fields?: unknown[] }[] } };
		expect(body.type).toBe(4);
		expect(body.data.flags & EPHEMERAL).toBe(EPHEMERAL);
		expect(body.data.embeds).toHaveLength(1);
	});

	it('/imagine: a deferral, then one edit of the reply that carries a PNG', async () => {
		const timeline = discord.chatInput({ name: 'imagine', options: { prompt: 'a lighthouse at dusk' } });
		const result = await discord.recorder.waitForInteractionCall(timeline.id, (call) => call.files.length > 0, 60_000);

		const callbacks = callbacksOf(timeline);
		expect(callbacks).toHaveLength(1);
		expect(callbacks[0]).toMatchObject({ status: 204, body: { type: 5 } });
		expect(result).toMatchObject({ method: 'PATCH', params: { messageId: '@original' }, status: 200 });
		expect(result.files).toHaveLength(1);
		expect(result.files[0]!.name).toMatch(/\.png$/);
		expect(result.files[0]!.data.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
		expect(timeline.calls.filter((call) => call.files.length > 0)).toEqual([result]);
		// The reply Discord holds now shows the image, served from its attachment URL.
		const message = result.response as { attachments: { url: string; width: number }[]; embeds: unknown[] };
		expect(message.attachments).toHaveLength(1);
		expect(message.attachments[0]!.width).toBeGreaterThan(0);
		expect(message.embeds.length).toBeGreaterThan(0);
	});

	it('an expired token: the callback fails with Unknown interaction, and the bot keeps answering', async () => {
		const expired = discord.chatInput({ name: 'quota' });
		discord.expire(expired.id);
		await discord.recorder.waitForInteractionCall(expired.id, (call) => call.route === CALLBACK_ROUTE);
		expect(callbacksOf(expired).map((call) => call.status)).toEqual([404]);
		expect(callbacksOf(expired)[0]!.response).toEqual({ code: 10062, message: 'Unknown interaction' });

		const next = discord.chatInput({ name: 'quota' });
		const answer = await discord.recorder.waitForInteractionCall(next.id, (call) => call.route === CALLBACK_ROUTE);
		expect(answer.status).toBe(204);
	});
});

describe('the bot failing to log in', () => {
	it('a token Discord rejects (REST 401): one clear message and exit code 1', async () => {
		const discord = await DiscordStandIn.start();
		cleanups.push(() => discord.stop());
		const bot = startBotProcess(discord, {
			...(await tempFolder()),
			token: 'MTIzNDU2Nzg5MDEyMzQ1Njc4.rejected.by-the-stand-in-0000000000'
		});
		expect(await bot.exited).toBe(1);
		const fatal = bot.lines.map(logLine).find((line) => line?.level === 60);
		expect(fatal?.msg).toMatch(/^Discord rejected DISCORD_TOKEN/);
		expect(bot.lines.join('\n')).not.toContain('by-the-stand-in');
		expect(discord.gateway.identifies).toEqual([]);
	}, 60_000);

	it('a gateway close 4004 (authentication failed): the same clear message as a REST 401, and exit code 1', async () => {
		const discord = await DiscordStandIn.start();
		cleanups.push(() => discord.stop());
		discord.faults.closeIdentifyWith = 4004;
		const bot = startBotProcess(discord, await tempFolder());
		expect(await bot.exited).toBe(1);
		expect(discord.gateway.identifies.map((identify) => identify.closedWith)).toEqual([4004]);
		const fatal = bot.lines.map(logLine).find((line) => line?.level === 60);
		// discord.js says only "Authentication failed"; the gateway's close code says why.
		expect(fatal?.err?.message).toBe('Authentication failed');
		expect(fatal?.msg).toMatch(/^Discord rejected DISCORD_TOKEN: reset it in the Developer Portal/);
		expect(bot.lines.join('\n')).not.toContain(discord.token);
	}, 60_000);
});

afterAll(async () => {
	for (const cleanup of cleanups.splice(0)) await cleanup();
});
