import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIUser } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBotProcess, type BotProcess } from '../helpers/discord/botProcess.js';
import { DiscordStandIn } from '../helpers/discord/DiscordStandIn.js';
import { callbacksOf, type InteractionTimeline } from '../helpers/discord/recorder.js';
import { makeTempDir } from '../helpers/storageFixtures.js';
import { outcomesOf, waitForOutcome } from './helpers/interactionOutcomes.js';

/**
 * The real bot (src/index.ts in its own process) under a burst, against the Discord stand-in: what each user
 * gets, and what Discord receives. No timing is asserted here (npm run bench -- --only bot measures it): the
 * stand-in waits 20 s for an acknowledgement, so a busy test machine does not turn a slow answer into a failure.
 */

const DEFERRED_CHANNEL_MESSAGE = 5;
const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

let discord: DiscordStandIn;
let bot: BotProcess;
let cleanup: (() => Promise<void>) | undefined;

beforeAll(async () => {
	discord = await DiscordStandIn.start({ acknowledgeWithinMs: 20_000 });
	const temp = await makeTempDir('imagine-burst-');
	cleanup = temp.cleanup;
	// One generation at a time and one a day: a burst makes a queue, and a second ask is denied.
	bot = startBotProcess(discord, {
		cwd: temp.dir,
		storageRoot: join(temp.dir, 'root'),
		env: { GENERATION_CONCURRENCY: '1', MAX_USER_DAILY_GENS: '1' }
	});
	await bot.waitForLine(/Ready as Imagine/, 60_000);
	await discord.recorder.waitForRequest((request) => request.route === 'PUT /applications/:applicationId/commands', 30_000);
}, 90_000);

afterAll(async () => {
	const code = await bot?.stop();
	await discord?.stop();
	await cleanup?.();
	expect(code).toBe(0);
}, 60_000);

/** pino lines the bot wrote after `from` (an index into its lines). */
function logLinesSince(from: number): { level: number; msg: string }[] {
	return bot.lines.slice(from).flatMap((line) => {
		try {
			return [JSON.parse(line) as { level: number; msg: string }];
		} catch {
			return [];
		}
	});
}

describe('a burst of /imagine', () => {
	it('every interaction gets exactly one acknowledgement, a deferral, then exactly one outcome: its image, or a private denial', async () => {
		const users: APIUser[] = Array.from({ length: 6 }, (_, index) => discord.addMember(`burst${index}`));
		// Every user asks twice at once: one image each, and one denial (a day's allowance is one).
		const timelines: InteractionTimeline[] = [];
		for (const round of [1, 2]) {
			for (const user of users)
				timelines.push(discord.chatInput({ name: 'imagine', user, options: { prompt: `burst ${user.username} ${round}` } }));
		}
		const outcomes = await Promise.all(timelines.map((timeline) => waitForOutcome(timeline, 120_000)));
		// Late calls (a removal, a stray progress edit) would show up within a moment.
		await sleep(1000);

		for (const timeline of timelines) {
			const callbacks = callbacksOf(timeline);
			expect(callbacks.map((callback) => [callback.status, (callback.body as { type: number }).type])).toEqual([
				[204, DEFERRED_CHANNEL_MESSAGE]
			]);
			expect(outcomesOf(timeline)).toHaveLength(1);
			expect(timeline.calls[0]).toBe(callbacks[0]);
		}
		for (const user of users) {
			const mine = timelines.flatMap((timeline, index) => (timeline.userId === user.id ? [outcomes[index]!] : []));
			expect(mine.map((outcome) => outcome.kind).sort()).toEqual(['image', 'private']);
			const image = mine.find((outcome) => outcome.kind === 'image')!;
			expect(image.call.files[0]!.data.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
			const denial = mine.find((outcome) => outcome.kind === 'private')!;
			expect((denial.call.body as { embeds: { title: string }[] }).embeds[0]!.title).toBe('Daily limit reached');
		}
		// A denied user's public reply does not stay: it is removed once the private answer is out.
		for (const timeline of timelines.filter((_, index) => outcomes[index]!.kind === 'private')) {
			expect(timeline.calls.at(-1)).toMatchObject({ method: 'DELETE', params: { messageId: '@original' }, status: 204 });
		}
		// One generation at a time: the others were shown their place in the queue.
		const progress = timelines.flatMap((timeline) =>
			timeline.calls.map((call) => (call.body as { content?: string } | null)?.content ?? '')
		);
		expect(progress.some((content) => /In queue: position [2-9]/.test(content))).toBe(true);
	}, 180_000);
});

describe('an interaction that expired before the bot answered', () => {
	it.each(['imagine', 'quota'])(
		'/%s: no second callback, nothing after it, and one warning instead of errors',
		async (name) => {
			const from = bot.lines.length;
			const user = discord.addMember(`late-${name}`);
			const timeline = discord.chatInput({ name, user, ...(name === 'imagine' ? { options: { prompt: 'too late' } } : {}) });
			// Expired at once: the bot's acknowledgement arrives after it, as when an interaction reaches a bot past 3 s.
			discord.expire(timeline.id);
			await discord.recorder.waitForInteractionCall(timeline.id, () => true, 30_000);
			await bot.waitForLine(/no longer takes answers/, 30_000);
			await sleep(1500);

			expect(timeline.calls.map((call) => [call.route, call.status])).toEqual([['POST /interactions/:id/:token/callback', 404]]);
			const lines = logLinesSince(from);
			expect(lines.filter((line) => line.level >= 50)).toEqual([]);
			expect(lines.filter((line) => line.level === 40 && line.msg.includes('no longer takes answers'))).toHaveLength(1);
		},
		60_000
	);
});
