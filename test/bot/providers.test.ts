import { container } from '@sapphire/framework';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeComfyUIServer } from '../generation/fakes/comfyuiServer.js';
import { FakeOpenAIServer, OPENAI_TEST_KEY } from '../generation/fakes/openaiServer.js';
import { AttachmentServer, samplePng } from './helpers/attachmentServer.js';
import { startTestBot, type TestBot } from './helpers/botHarness.js';
import { customIdsOf } from './helpers/fakeInteractions.js';
import { command, imagine, isPrivate, isResult, USER_A, userA } from './helpers/flows.js';

/* The bot's replies with ComfyUI and OpenAI behind it: what a member sees of what each provider can and cannot do. */

let bot: TestBot | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
	await bot?.close();
	bot = undefined;
	await Promise.all(closers.splice(0).map((close) => close()));
});

async function openaiBot(): Promise<TestBot> {
	const server = await FakeOpenAIServer.start();
	closers.push(() => server.close());
	return startTestBot({ generation: { provider: 'openai', openai: { apiKey: OPENAI_TEST_KEY, baseUrl: `${server.url}/v1` } } });
}

describe('with OpenAI', () => {
	it('a result shows no seed, says the seed and the negative prompt were not used, and offers no Upscale', async () => {
		bot = await openaiBot();
		const { call, imageId, buttons } = await imagine(bot, userA, 'a lighthouse at dusk', { negative: 'people', seed: 42 });
		const fields = call.payload!.embeds[0]!.fields ?? [];
		expect(fields.map((field) => field.name)).not.toContain('Seed');
		expect(fields).toEqual(
			expect.arrayContaining([
				{ name: 'Avoid (not used)', value: 'people' },
				{ name: 'Provider', value: 'OpenAI · gpt-image-1', inline: true },
				{ name: 'Not used', value: 'The seed and the negative prompt had no effect: OpenAI does not take them.' }
			])
		);
		expect(buttons).toEqual(['reroll', 'vary', 'delete'].map((action) => `imagine:${action}:${USER_A}:${imageId}`));
	});

	it('/upscale answers privately that this image service cannot upscale; nothing is charged', async () => {
		bot = await openaiBot();
		const attachments = await AttachmentServer.start();
		closers.push(() => attachments.close());
		const image = attachments.attach('small.png', await samplePng(64, 64));
		const { call } = await command(bot, { command: 'upscale', user: userA, options: { image } }, isPrivate);
		expect(call.payload!.embeds[0]).toMatchObject({
			title: 'Not available with this image service',
			description: 'OpenAI (gpt-image-1) cannot upscale images, so this bot cannot do it right now. Nothing was charged.'
		});
		expect((await container.storage.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
	});
});

describe('with ComfyUI', () => {
	it('a result names ComfyUI and its checkpoint, with the seed it used and every button', async () => {
		const server = await FakeComfyUIServer.start();
		closers.push(() => server.close());
		bot = await startTestBot({ generation: { provider: 'comfyui', comfyui: { url: server.url } } });
		const { call } = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'a fox', seed: 7 } }, isResult);
		expect(call.payload!.embeds[0]!.fields).toEqual(
			expect.arrayContaining([
				{ name: 'Seed', value: '`7`', inline: true },
				{ name: 'Provider', value: 'ComfyUI · v1-5-pruned-emaonly.safetensors', inline: true }
			])
		);
		expect(customIdsOf(call.payload).map((id) => id.split(':')[1])).toEqual(['upscale', 'reroll', 'vary', 'delete']);
	});
});
