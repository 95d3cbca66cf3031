import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { container, Events } from '@sapphire/framework';
import { afterEach, describe, expect, it } from 'vitest';
import { dispatch, startTestBot, type TestBot } from './helpers/botHarness.js';
import { customIdsOf, FakeButtonInteraction } from './helpers/fakeInteractions.js';
import { imagine, isPrivate, isResult, press, settled, USER_A, userA, userB } from './helpers/flows.js';

let bot: TestBot | undefined;
afterEach(async () => {
	await bot?.close();
	bot = undefined;
});

describe('result buttons', () => {
	it('Upscale: a new reply with the image at twice the size, charged as one generation', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA, 'a lighthouse', { aspect: '16:9' });
		const { interaction, call } = await press(bot, `imagine:upscale:${USER_A}:${imageId}`, userA, isResult);
		expect(interaction.calls[0]).toMatchObject({ method: 'deferReply', payload: { ephemeral: false } });
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Preview · Upscaled 2×');
		const original = await container.storage.getImagePath(USER_A, imageId);
		const { width, height } = original.ok ? (original.image.metadata as { width: number; height: number }) : { width: 0, height: 0 };
		expect(embed.fields?.find((field) => field.name === 'Size')?.value).toBe(`${width * 2}×${height * 2}`);
		expect(embed.footer?.text).toMatch(/^Today 2\/5 /);
		const upscaledId = customIdsOf(call.payload)[0]!.split(':')[3]!;
		const stored = await container.storage.getImagePath(USER_A, upscaledId);
		expect(stored.ok && stored.image.metadata).toMatchObject({ kind: 'upscale', sourceImageId: imageId });
	});

	it('Re-roll: the same prompt, style and shape with a new seed', async () => {
		bot = await startTestBot();
		const first = await imagine(bot, userA, 'a red fox in snow', { style: 'anime', seed: 1, aspect: '9:16' });
		const { call } = await press(bot, `imagine:reroll:${USER_A}:${first.imageId}`, userA, isResult);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Preview · Imagined');
		expect(embed.description).toContain('a red fox in snow');
		expect(embed.fields?.find((field) => field.name === 'Style')?.value).toBe('Anime');
		expect(embed.fields?.find((field) => field.name === 'Seed')?.value).not.toBe('`1`');
		expect(embed.fields?.find((field) => field.name === 'Size')?.value).toBe(
			first.call.payload!.embeds[0]!.fields?.find((field) => field.name === 'Size')?.value
		);
	});

	it('Vary: image-to-image on the stored result, with its prompt', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA, 'a castle on a hill', { style: 'fantasy-art' });
		const { call } = await press(bot, `imagine:vary:${USER_A}:${imageId}`, userA, isResult);
		expect(call.payload!.embeds[0]!.title).toBe('Preview · Reimagined');
		const variedId = customIdsOf(call.payload)[0]!.split(':')[3]!;
		const stored = await container.storage.getImagePath(USER_A, variedId);
		expect(stored.ok && stored.image.metadata).toMatchObject({
			kind: 'image-to-image',
			prompt: 'a castle on a hill',
			style: 'fantasy-art',
			sourceImageId: imageId
		});
	});

	it('Delete: removes the image and replaces the result with a note, image and buttons gone', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA);
		const { call } = await press(bot, `imagine:delete:${USER_A}:${imageId}`, userA, (entry) => entry.method === 'update');
		expect(call.payload).toMatchObject({ components: [], attachments: [] });
		expect(call.payload!.embeds[0]!.title).toBe('Image deleted');
		expect(await readdir(join(bot.root, 'images', 'users', USER_A))).toEqual([]);
	});

	it("someone else's button: an ephemeral 'not yours', and nothing happens", async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA);
		for (const action of ['upscale', 'reroll', 'vary', 'delete']) {
			const { interaction, call } = await press(bot, `imagine:${action}:${USER_A}:${imageId}`, userB, isPrivate);
			expect(call.payload!.embeds[0]!.title).toBe('Not yours');
			expect(call.payload!.embeds[0]!.description).toContain(`<@${USER_A}>`);
			expect(interaction.calls).toHaveLength(1);
		}
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(1);
		expect((await container.storage.getUserImages(USER_A)).ok && (await container.storage.getUserImages(USER_A))).toMatchObject({
			images: [{ id: imageId }]
		});
	});

	it("a deleted image's buttons answer 'That image was deleted.' and charge nothing", async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA);
		await container.storage.deleteImage(USER_A, imageId);
		for (const action of ['upscale', 'reroll', 'vary', 'delete']) {
			const { call } = await press(bot, `imagine:${action}:${USER_A}:${imageId}`, userA, isPrivate);
			expect(call.payload!.embeds[0]!.description).toBe('That image was deleted.');
		}
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(1);
	});

	it('respect the quotas: at the daily limit a button gets the same denial as the command, privately', async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 1 } });
		const { imageId } = await imagine(bot, userA);
		const { interaction, call } = await press(bot, `imagine:reroll:${USER_A}:${imageId}`, userA, isPrivate);
		expect(call.method).toBe('followUp');
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Daily limit reached');
		expect(embed.description).toMatch(/^Daily generation limit reached \(1\/1\)\. Resets in /);
		expect(embed.fields?.find((field) => field.name === 'When')?.value).toMatch(/^Resets <t:\d+:R>$/);
		expect(interaction.callsTo('deleteReply')).toHaveLength(1);
		expect((await container.storage.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
	});

	it('keep working after a restart: everything they need is in the custom id', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA, 'a lighthouse');
		// A new client on the same storage: nothing from the first run is in memory.
		const first = bot;
		await first.stop();
		const restarted = await startTestBot({ root: first.root });
		bot = { ...restarted, close: async () => (await restarted.close(), await first.close()) };
		const { call } = await press(bot, `imagine:reroll:${USER_A}:${imageId}`, userA, isResult);
		expect(call.payload!.embeds[0]!.description).toContain('a lighthouse');
	});

	it("leave other components' custom ids alone", async () => {
		bot = await startTestBot();
		const parsedNone = new Promise<void>((resolve) => {
			let count = 0;
			bot!.client.on(Events.InteractionHandlerParseNone, () => ++count === 2 && resolve());
		});
		const interaction = new FakeButtonInteraction({ customId: 'someone-elses-plugin:thing', user: userA });
		dispatch(bot.client, interaction);
		await parsedNone;
		await settled();
		expect(interaction.calls).toEqual([]);
	});
});
