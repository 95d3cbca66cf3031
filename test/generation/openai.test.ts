import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationResult } from '../../src/plugins/generation/GenerationResult.js';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { ImageJobs } from '../../src/plugins/generation/ImageJobs.js';
import type { GenerationOptions } from '../../src/plugins/generation/options.js';
import { durationMs } from '../../src/plugins/generation/providers/openai/openaiErrors.js';
import { openTestStorage } from '../helpers/storageFixtures.js';
import { closedPortUrl } from './fakes/a1111Server.js';
import { imageSize, pngImage } from './fakes/images.js';
import { FakeOpenAIServer, OPENAI_TEST_KEY, type FilePart, type OpenAIFault } from './fakes/openaiServer.js';

const servers: FakeOpenAIServer[] = [];
const generators: ImageGenerator[] = [];

afterEach(async () => {
	await Promise.all(generators.splice(0).map((generator) => generator.close()));
	await Promise.all(servers.splice(0).map((server) => server.close()));
});

const http: GenerationOptions['http'] = {
	retryBaseDelayMs: 10,
	generateTimeoutSeconds: 0.5,
	bodyTimeoutSeconds: 0.5,
	maxRateLimitWaitSeconds: 1
};

async function fake(options: { apiKey?: string | null } = {}): Promise<FakeOpenAIServer> {
	const server = await FakeOpenAIServer.start(options);
	servers.push(server);
	return server;
}

function generatorFor(baseUrl: string, openai: GenerationOptions['openai'] = {}): ImageGenerator {
	const generator = ImageGenerator.create({
		provider: 'openai',
		openai: { apiKey: OPENAI_TEST_KEY, baseUrl: `${baseUrl}/v1`, ...openai },
		http
	});
	generators.push(generator);
	return generator;
}

function failureOf(result: GenerationResult) {
	if (result.ok) throw new Error('expected a failure');
	return result;
}

describe('OpenAI: generations', () => {
	it('gpt-image-1: the documented JSON, no response_format, no seed, no negative prompt; the result says what was not used', async () => {
		const server = await fake();
		const result = await generatorFor(server.url).textToImage({
			prompt: 'a lighthouse at dusk',
			negativePrompt: 'people',
			stylePreset: 'cinematic',
			aspectRatio: '16:9',
			seed: 42
		});

		if (!result.ok) throw new Error(result.message);
		const [sent] = server.requests;
		expect(sent?.path).toBe('/v1/images/generations');
		expect(sent?.headers.authorization).toBe(`Bearer ${OPENAI_TEST_KEY}`);
		expect(sent?.headers['content-type']).toBe('application/json');
		expect(sent?.fields).toEqual({ model: 'gpt-image-1', prompt: 'a lighthouse at dusk, cinematic still', n: 1, size: '1536x1024' });
		expect(result.image).toMatchObject({
			provider: 'openai',
			model: 'gpt-image-1',
			width: 1536,
			height: 1024,
			seed: 0,
			preview: false,
			unusedInputs: ['seed', 'negativePrompt'],
			usage: { inputTokens: 50, outputTokens: 4200, totalTokens: 4250, inputTextTokens: 40, inputImageTokens: 10 }
		});
		expect(await imageSize(result.image.data)).toEqual({ width: 1536, height: 1024, format: 'png' });
	});

	it('without a negative prompt only the seed is listed as unused; the quality option is sent', async () => {
		const server = await fake();
		const result = await generatorFor(server.url, { quality: 'high' }).textToImage({ prompt: 'portrait', width: 800, height: 1200 });
		expect(result.ok && result.image.unusedInputs).toEqual(['seed']);
		expect(server.requests[0]?.fields).toMatchObject({ size: '1024x1536', quality: 'high' });
	});

	it('dall-e-3: response_format b64_json and its own sizes; no usage is reported', async () => {
		const server = await fake();
		const result = await generatorFor(server.url, { model: 'dall-e-3' }).textToImage({ prompt: 'wide', aspectRatio: '21:9' });
		if (!result.ok) throw new Error(result.message);
		expect(server.requests[0]?.fields).toEqual({ model: 'dall-e-3', prompt: 'wide', n: 1, size: '1792x1024', response_format: 'b64_json' });
		expect(result.image.usage).toBeUndefined();
	});

	it('dall-e-2: the smallest square as large as asked', async () => {
		const server = await fake();
		const result = await generatorFor(server.url, { model: 'dall-e-2' }).textToImage({ prompt: 'icon', width: 300, height: 300 });
		expect(result.ok && [result.image.width, result.image.height]).toEqual([512, 512]);
	});

	it("keeps the base URL's path and query (Azure OpenAI v1, a proxy)", async () => {
		const server = await fake();
		const generator = ImageGenerator.create({
			provider: 'openai',
			openai: { apiKey: OPENAI_TEST_KEY, baseUrl: `${server.url}/openai/v1?api-version=preview` },
			http
		});
		generators.push(generator);
		expect((await generator.textToImage({ prompt: 'x' })).ok).toBe(true);
		expect(server.requests[0]?.path).toBe('/openai/v1/images/generations');
		expect(server.requests[0]?.query.get('api-version')).toBe('preview');
	});

	it('a compatible server elsewhere needs no key; api.openai.com without a key is NOT_CONFIGURED', async () => {
		const server = await fake({ apiKey: null });
		const local = ImageGenerator.create({ provider: 'openai', openai: { baseUrl: `${server.url}/v1`, model: 'gpt-image-1' }, http });
		generators.push(local);
		expect((await local.textToImage({ prompt: 'x' })).ok).toBe(true);
		expect(server.requests[0]?.headers.authorization).toBeUndefined();

		const hosted = ImageGenerator.create({ provider: 'openai' });
		generators.push(hosted);
		expect(hosted.describe()).toMatchObject({ provider: 'openai', configured: false });
		expect(failureOf(await hosted.textToImage({ prompt: 'x' })).reason).toBe('NOT_CONFIGURED');
	});

	it('refuses a prompt longer than the model takes before any call', async () => {
		const server = await fake();
		const failure = failureOf(await generatorFor(server.url, { model: 'dall-e-3' }).textToImage({ prompt: 'x'.repeat(4001) }));
		expect(failure).toMatchObject({ reason: 'INVALID_INPUT', message: expect.stringContaining('at most 4000') });
		expect(server.requests).toHaveLength(0);
	});
});

describe('OpenAI: edits, and what the API cannot do', () => {
	it("image to image: multipart image + prompt + a size of the input's shape; seed and strength listed as unused", async () => {
		const server = await fake();
		const result = await generatorFor(server.url).imageToImage({
			image: await pngImage(300, 200),
			prompt: 'make it winter',
			strength: 0.8,
			seed: 3
		});

		if (!result.ok) throw new Error(result.message);
		const [sent] = server.requests;
		expect(sent?.path).toBe('/v1/images/edits');
		expect(sent?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
		const { image, ...fields } = sent?.fields ?? {};
		expect(fields).toEqual({ model: 'gpt-image-1', prompt: 'make it winter', n: '1', size: '1536x1024' });
		expect(image as FilePart).toMatchObject({ type: 'image/png', format: 'png', width: 300, height: 200 });
		expect(result.image.unusedInputs).toEqual(['seed', 'strength']);
	});

	it('upscale: UNSUPPORTED, before any call; dall-e-3 has no edits: UNSUPPORTED too', async () => {
		const server = await fake();
		const upscale = failureOf(await generatorFor(server.url).upscaleImage({ image: await pngImage(64, 64) }));
		expect(upscale).toMatchObject({
			reason: 'UNSUPPORTED',
			message: 'OpenAI (gpt-image-1) cannot upscale images, so this bot cannot do it right now. Nothing was charged.'
		});
		const dalle = generatorFor(server.url, { model: 'dall-e-3' });
		expect(dalle.describe().supports).toEqual({ imageToImage: false, upscale: false });
		expect(failureOf(await dalle.imageToImage({ image: await pngImage(64, 64), prompt: 'x' })).reason).toBe('UNSUPPORTED');
		expect(server.requests).toHaveLength(0);
	});
});

describe('OpenAI: the laxer moderation of age-restricted channels', () => {
	const GUILD = '111111111111111111';
	const USER = '123456789012345678';
	let storage: Awaited<ReturnType<typeof openTestStorage>> | undefined;
	afterEach(async () => {
		await storage?.close();
		storage = undefined;
	});

	it('gpt-image-1 gets moderation "low" when the request asks for it, and nothing otherwise; dall-e-3 and edits never', async () => {
		const server = await fake();
		const gptImage = generatorFor(server.url);
		expect((await gptImage.textToImage({ prompt: 'a lighthouse', laxModeration: true })).ok).toBe(true);
		expect(server.requests[0]?.fields).toEqual({
			model: 'gpt-image-1',
			prompt: 'a lighthouse',
			n: 1,
			size: '1024x1024',
			moderation: 'low'
		});
		expect((await gptImage.textToImage({ prompt: 'a lighthouse', laxModeration: false })).ok).toBe(true);
		expect((await gptImage.textToImage({ prompt: 'a lighthouse' })).ok).toBe(true);
		expect(server.requests.slice(1).map((sent) => 'moderation' in sent.fields)).toEqual([false, false]);
		// dall-e-3 takes no such field (the API would refuse it as unknown).
		const dalle = await generatorFor(server.url, { model: 'dall-e-3' }).textToImage({ prompt: 'a lighthouse', laxModeration: true });
		expect(dalle.ok).toBe(true);
		expect(server.requests[3]?.fields).not.toHaveProperty('moderation');
		// The edits endpoint documents no moderation field: an edit is sent as always.
		const edit = await gptImage.imageToImage({ image: await pngImage(64, 64), prompt: 'winter', laxModeration: true });
		expect(edit.ok).toBe(true);
		expect(server.requests[4]?.fields).not.toHaveProperty('moderation');
	});

	it('through the guarded job: only where the owner allows it, the server turned it on and the channel is age-restricted', async () => {
		const server = await fake();
		storage = await openTestStorage({ maxUserDailyGens: 20, allowNsfwLax: true });
		const manager = storage.manager;
		await manager.controls.changeSettings(GUILD, { nsfwLax: true });
		const jobs = new ImageJobs(generatorFor(server.url), () => manager, {
			jobTimeoutMs: 5000,
			dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 }
		});
		const moderationOf = async (job: { guildId?: string | null; ageRestricted?: boolean; laxModeration?: boolean }) => {
			const { laxModeration, ...where } = job;
			const result = await jobs.run({
				kind: 'text-to-image',
				userId: USER,
				...where,
				request: { prompt: 'a lighthouse', ...(laxModeration === undefined ? {} : { laxModeration }) }
			});
			expect(result.ok).toBe(true);
			return server.requests.at(-1)?.fields.moderation;
		};
		expect(await moderationOf({ guildId: GUILD, ageRestricted: true })).toBe('low');
		expect(await moderationOf({ guildId: GUILD, ageRestricted: false })).toBeUndefined();
		expect(await moderationOf({ guildId: null, ageRestricted: true })).toBeUndefined();
		// A request cannot ask for it itself: the controls decide.
		expect(await moderationOf({ guildId: GUILD, laxModeration: true })).toBeUndefined();
		await manager.controls.changeSettings(GUILD, { nsfwLax: false });
		expect(await moderationOf({ guildId: GUILD, ageRestricted: true })).toBeUndefined();

		// The owner forbids it: a setting stored before has no effect.
		await manager.controls.changeSettings(GUILD, { nsfwLax: true });
		await manager.close();
		storage.manager = await storage.reopen({ allowNsfwLax: false });
		const forbidden = storage.manager;
		const strictJobs = new ImageJobs(generatorFor(server.url), () => forbidden, {
			jobTimeoutMs: 5000,
			dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 }
		});
		expect(
			(await strictJobs.run({ kind: 'text-to-image', userId: USER, guildId: GUILD, ageRestricted: true, request: { prompt: 'x' } })).ok
		).toBe(true);
		expect(server.requests.at(-1)?.fields).not.toHaveProperty('moderation');
	});
});

describe('OpenAI: faults', () => {
	it.each<[string, OpenAIFault, string]>([
		[
			'401 bad key',
			{ kind: 'error', status: 401, code: 'invalid_api_key', message: `Incorrect API key provided: ${OPENAI_TEST_KEY}.` },
			'AUTH'
		],
		['403 unverified organisation', { kind: 'error', status: 403, code: null, message: 'Your organization must be verified' }, 'AUTH'],
		[
			'400 moderation_blocked',
			{ kind: 'error', status: 400, code: 'moderation_blocked', type: 'image_generation_user_error' },
			'CONTENT_FILTERED'
		],
		['400 content_policy_violation (older models)', { kind: 'error', status: 400, code: 'content_policy_violation' }, 'CONTENT_FILTERED'],
		[
			'400 Azure content filter with inner_error',
			{
				kind: 'error',
				status: 400,
				code: 'contentFilter',
				innerError: { code: 'ResponsibleAIPolicyViolation', content_filter_results: { violence: { filtered: true } } }
			},
			'CONTENT_FILTERED'
		],
		['a 200 whose image is not an image', { kind: 'notImage' }, 'PROVIDER_ERROR'],
		['a 200 with a URL and no base64 (never fetched)', { kind: 'urlOnly' }, 'PROVIDER_ERROR'],
		[
			'an image larger than the model makes (2048 x 2048 from gpt-image-1)',
			{ kind: 'imageOfSize', width: 2048, height: 2048 },
			'PROVIDER_ERROR'
		],
		['a server that never answers', { kind: 'noHeaders' }, 'TIMEOUT']
	])('%s: %s', async (_name, fault, reason) => {
		const server = await fake();
		server.script(fault);
		const failure = failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' }));
		expect(failure.reason).toBe(reason);
		expect(JSON.stringify(failure)).not.toContain(OPENAI_TEST_KEY);
		expect(server.requests).toHaveLength(1);
	});

	it("a plain 400 is INVALID_INPUT with OpenAI's own words", async () => {
		const server = await fake();
		server.script({
			kind: 'error',
			status: 400,
			code: 'invalid_value',
			message: "Invalid value: 'foo'. Supported values are: 'low', 'medium'."
		});
		expect(failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' }))).toMatchObject({
			reason: 'INVALID_INPUT',
			message: "OpenAI refused the request: Invalid value: 'foo'. Supported values are: 'low', 'medium'."
		});
	});

	it('429 with x-ratelimit-reset-requests waits that long, then succeeds', async () => {
		const server = await fake();
		server.script({
			kind: 'error',
			status: 429,
			code: 'rate_limit_exceeded',
			headers: {
				'x-ratelimit-remaining-requests': '0',
				'x-ratelimit-reset-requests': '0.2s',
				'x-ratelimit-remaining-tokens': '1000',
				'x-ratelimit-reset-tokens': '6m0s'
			}
		});
		const started = Date.now();
		expect((await generatorFor(server.url).textToImage({ prompt: 'x' })).ok).toBe(true);
		expect(Date.now() - started).toBeGreaterThanOrEqual(190);
		expect(server.requests).toHaveLength(2);
	});

	it('429 asking for longer than the job may wait: RATE_LIMITED with when to try again', async () => {
		const server = await fake();
		server.script({ kind: 'error', status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after': '120' } });
		expect(failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' }))).toMatchObject({
			reason: 'RATE_LIMITED',
			retryAfterMs: 120_000
		});
		expect(server.requests).toHaveLength(1);
	});

	it('429 insufficient_quota is not retried: PROVIDER_ERROR telling the owner to check the billing', async () => {
		const server = await fake();
		server.script({ kind: 'error', status: 429, code: 'insufficient_quota', type: 'insufficient_quota', headers: { 'retry-after': '1' } });
		const failure = failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' }));
		expect(failure).toMatchObject({ reason: 'PROVIDER_ERROR', message: expect.stringContaining('billing') });
		expect(server.requests).toHaveLength(1);
	});

	it('500 is retried a bounded number of times; an address nothing listens on is UNAVAILABLE', async () => {
		const server = await fake();
		const error: OpenAIFault = { kind: 'error', status: 500, code: 'server_error' };
		server.script(error, error, error, error);
		expect(failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' })).reason).toBe('PROVIDER_ERROR');
		expect(server.requests).toHaveLength(3);
		expect(failureOf(await generatorFor(await closedPortUrl()).textToImage({ prompt: 'x' })).reason).toBe('UNAVAILABLE');
	});
});

describe('OpenAI reset durations', () => {
	it.each([
		['1s', 1000],
		['6m0s', 360_000],
		['20ms', 20],
		['1h2m3.5s', 3_723_500],
		['0.2s', 200]
	])('%s is %d ms', (text, ms) => expect(durationMs(text)).toBe(ms));

	it.each(['', 'soon', '5', '-1s', '1x'])('%j is unreadable', (text) => expect(durationMs(text)).toBeUndefined());
});
