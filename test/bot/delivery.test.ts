import { container } from '@sapphire/framework';
import { DiscordAPIError, RESTJSONErrorCodes } from 'discord.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EditBudget } from '../../src/lib/jobs/EditBudget.js';
import { ProgressReporter } from '../../src/lib/jobs/ProgressReporter.js';
import { progressText } from '../../src/lib/responses/progress.js';
import { dispatch, startTestBot, type TestBot } from './helpers/botHarness.js';
import { FakeAutocompleteInteraction, FakeChannel } from './helpers/fakeInteractions.js';
import { command, imagine, isPrivate, isResult, press, USER_A, userA } from './helpers/flows.js';

let bot: TestBot | undefined;
afterEach(async () => {
	vi.restoreAllMocks();
	await bot?.close();
	bot = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('progress', () => {
	it('reads like a queue: position, then generating, with the elapsed seconds', () => {
		expect(progressText({ kind: 'text-to-image', prompt: 'a fox', status: { state: 'queued', position: 3 }, elapsedMs: 4200 })).toBe(
			'**a fox**\n⏳ In queue: position 3 · 4 s'
		);
		expect(progressText({ kind: 'upscale', prompt: null, status: { state: 'generating', startedAt: 0 }, elapsedMs: 12_000 })).toBe(
			'**Upscaling**\n🎨 Upscaling · 12 s'
		);
		expect(progressText({ kind: 'image-to-image', prompt: 'x', status: { state: 'saving' }, elapsedMs: 0 })).toBe('**x**\n💾 Saving · 0 s');
	});

	it("shows the provider's step count while it generates (ComfyUI's sampler steps)", () => {
		const status = { state: 'generating', startedAt: 0, progress: { value: 12, max: 30 } } as const;
		expect(progressText({ kind: 'text-to-image', prompt: 'a fox', status, elapsedMs: 14_500 })).toBe(
			'**a fox**\n🎨 Imagining · step 12/30 · 14 s'
		);
	});

	it('edits are throttled: a burst of states becomes one edit showing the latest, and none after stop', async () => {
		const edits: { content: string; at: number }[] = [];
		const reporter = new ProgressReporter(
			(status, elapsed) => progressText({ kind: 'text-to-image', prompt: 'p', status, elapsedMs: elapsed }),
			async (content) => void edits.push({ content, at: Date.now() }),
			{ minIntervalMs: 150, tickMs: 10_000, budget: new EditBudget(1000) }
		);
		reporter.start();
		reporter.update({ state: 'queued', position: 3 });
		reporter.update({ state: 'queued', position: 2 });
		reporter.update({ state: 'generating', startedAt: Date.now() });
		await sleep(400);
		await reporter.stop();
		reporter.update({ state: 'saving' });
		await sleep(200);
		expect(edits.map((edit) => edit.content.split('\n')[1]!.replace(/ · \d+ s$/, ''))).toEqual(['⏳ Starting', '🎨 Imagining']);
		expect(edits[1]!.at - edits[0]!.at).toBeGreaterThanOrEqual(140);
	});

	it('refreshes the elapsed time while nothing else changes', async () => {
		const edits: string[] = [];
		let now = 0;
		const reporter = new ProgressReporter(
			(status, elapsed) => progressText({ kind: 'text-to-image', prompt: 'p', status, elapsedMs: elapsed }),
			async (content) => void edits.push(content),
			{ minIntervalMs: 10, tickMs: 30, now: () => now, budget: new EditBudget(1000) }
		);
		reporter.update({ state: 'generating', startedAt: 0 });
		for (let second = 1; second <= 3; second++) {
			now = second * 1000;
			await vi.waitFor(() => expect(edits.at(-1)).toContain(` · ${second} s`), { timeout: 5000, interval: 5 });
		}
		await reporter.stop();
		expect(edits.map((edit) => edit.split(' · ')[1])).toEqual(expect.arrayContaining(['1 s', '2 s', '3 s']));
	});

	it('every reporter draws from one edit budget: once it is spent, an edit waits its turn and then shows the newest state', async () => {
		const budget = new EditBudget(2);
		const edits: { reporter: string; content: string; at: number }[] = [];
		const origin = Date.now();
		const reporters = ['a', 'b', 'c'].map(
			(name) =>
				new ProgressReporter(
					(status) => (status?.state === 'queued' ? `${name} queued ${status.position}` : `${name} starting`),
					async (content) => void edits.push({ reporter: name, content, at: Date.now() - origin }),
					{ minIntervalMs: 10, tickMs: 60_000, budget }
				)
		);
		for (const reporter of reporters) reporter.start();
		// The budget holds two edits: the third reporter waits for the next one, and by then its job has moved up twice.
		reporters[2]!.update({ state: 'queued', position: 3 });
		reporters[2]!.update({ state: 'queued', position: 2 });
		await vi.waitFor(() => expect(edits).toHaveLength(3), { timeout: 5000, interval: 10 });
		for (const reporter of reporters) await reporter.stop();
		expect(edits.slice(0, 2).map((edit) => edit.content)).toEqual(['a starting', 'b starting']);
		expect(edits[2]).toMatchObject({ reporter: 'c', content: 'c queued 2' });
		expect(edits[2]!.at).toBeGreaterThanOrEqual(400);
	});
});

describe('delivery', () => {
	it('a result that arrives after the interaction token is spent goes to the channel, mentioning the requester', async () => {
		bot = await startTestBot();
		const channel = new FakeChannel();
		// The token is trusted for 14 of its 15 minutes: this one was created 14 minutes ago.
		const { interaction } = await command(
			bot,
			{ command: 'imagine', user: userA, channel, createdTimestamp: Date.now() - 14 * 60_000, options: { prompt: 'late' } },
			(call) => call.method === 'deferReply'
		);
		await vi.waitFor(() => expect(channel.sent).toHaveLength(1), { timeout: 10_000 });
		const sent = channel.sent[0]!;
		expect(sent.content).toBe(`<@${USER_A}>, your image is ready.`);
		expect(sent.allowedMentions).toEqual({ users: [USER_A] });
		expect(sent.files).toHaveLength(1);
		expect(sent.embeds[0]!.title).toBe('Preview · Imagined');
		expect(interaction.callsTo('editReply')).toEqual([]);
	});

	it('when Discord says the token is gone, the result goes to the channel instead', async () => {
		bot = await startTestBot();
		const channel = new FakeChannel();
		const { interaction } = await command(
			bot,
			{ command: 'imagine', user: userA, channel, options: { prompt: 'x' } },
			(call) => call.method === 'deferReply'
		);
		interaction.failures.editReply = () =>
			new DiscordAPIError(
				{ code: RESTJSONErrorCodes.InvalidWebhookToken, message: 'Invalid Webhook Token' },
				RESTJSONErrorCodes.InvalidWebhookToken,
				401,
				'PATCH',
				'/webhooks',
				{}
			);
		await vi.waitFor(() => expect(channel.sent).toHaveLength(1), { timeout: 10_000 });
		expect(channel.sent[0]!.files).toHaveLength(1);
	});

	it('an image over this server’s upload limit is re-encoded to fit, and the result says so', async () => {
		bot = await startTestBot();
		const { call } = await command(
			bot,
			{ command: 'imagine', user: userA, attachmentSizeLimit: 30_000, options: { prompt: 'a big one' } },
			isResult
		);
		const file = call.payload!.files[0]!;
		expect(file.data.byteLength).toBeLessThanOrEqual(30_000);
		expect(file.name).toMatch(/\.(webp|jpg)$/);
		expect(call.payload!.embeds[0]!.fields?.find((field) => field.name === 'Compressed for Discord')?.value).toMatch(
			/original PNG .* upload limit/
		);
		// The stored original is untouched.
		const listed = await container.storage.getUserImages(USER_A);
		expect(listed.ok && listed.images[0]!.mimeType).toBe('image/png');
	});
});

describe('unexpected errors', () => {
	function spyOnErrors() {
		return vi.spyOn(container.logger, 'error').mockImplementation(() => undefined);
	}

	function expectReference(embedDescription: string | undefined, logged: ReturnType<typeof spyOnErrors>) {
		const reference = /`([0-9a-z]{6})`/.exec(embedDescription ?? '')?.[1];
		expect(reference).toBeDefined();
		const line = logged.mock.calls.find((args) => String(args[0]).includes(`[ref ${reference}]`));
		expect(line, 'the log line carries the same reference').toBeDefined();
		expect(line!.some((arg) => arg instanceof Error && arg.message === 'disk on fire')).toBe(true);
		return reference!;
	}

	it('a command that throws: a friendly private message with a short reference; the details go to the log under it', async () => {
		bot = await startTestBot();
		const logged = spyOnErrors();
		vi.spyOn(container.storage, 'getQuotaStatus').mockRejectedValue(new Error('disk on fire'));
		const { call } = await command(bot, { command: 'quota', user: userA }, isPrivate);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Something went wrong');
		expect(embed.description).not.toContain('disk on fire');
		const reference = expectReference(embed.description, logged);
		expect(embed.footer?.text).toBe(`Reference ${reference}`);
	});

	it('a subcommand that throws after deferring privately: the same, in its (private) reply', async () => {
		bot = await startTestBot();
		const logged = spyOnErrors();
		vi.spyOn(container.storage, 'getUserImages').mockRejectedValue(new Error('disk on fire'));
		const { interaction, call } = await command(
			bot,
			{ command: 'images', subcommand: 'list', user: userA },
			(entry) => entry.method === 'editReply'
		);
		expect(interaction.calls.map((entry) => [entry.method, entry.payload?.ephemeral ?? null])).toEqual([
			['deferReply', true],
			['editReply', false]
		]);
		expectReference(call.payload!.embeds[0]!.description, logged);
	});

	it('a button that throws: the same', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA);
		const logged = spyOnErrors();
		vi.spyOn(container.storage, 'readImage').mockRejectedValue(new Error('disk on fire'));
		const { call } = await press(bot, `imagine:upscale:${USER_A}:${imageId}`, userA, isPrivate);
		expectReference(call.payload!.embeds[0]!.description, logged);
	});

	it('an autocomplete that throws answers an empty list and logs with a reference', async () => {
		bot = await startTestBot();
		const logged = spyOnErrors();
		vi.spyOn(container.storage, 'getUserImages').mockRejectedValue(new Error('disk on fire'));
		const interaction = new FakeAutocompleteInteraction({
			command: 'images',
			subcommand: 'show',
			user: userA,
			focused: { name: 'id', value: '' }
		});
		dispatch(bot.client, interaction);
		expect((await interaction.waitFor((call) => call.method === 'respond')).choices).toEqual([]);
		await vi.waitFor(() =>
			expect(logged.mock.calls.some((args) => /autocomplete \/images failed \[ref [0-9a-z]{6}\]/.test(String(args[0])))).toBe(true)
		);
	});
});
