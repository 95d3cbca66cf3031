import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationResult } from '../../src/plugins/generation/GenerationResult.js';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { Automatic1111Provider, type Automatic1111ProviderOptions } from '../../src/plugins/generation/providers/automatic1111.js';
import type { ProviderHttpSettings } from '../../src/plugins/generation/providers/ProviderSettings.js';
import type { DecodedImage, ProviderTextToImage } from '../../src/plugins/generation/requests.js';
import { closedPortUrl, FakeA1111Server, PROGRESS_PATH } from './fakes/a1111Server.js';
import { imageSize, pngImage } from './fakes/images.js';

const settings: ProviderHttpSettings = {
	maxConcurrent: 2,
	maxPerWindow: 1000,
	windowMs: 10_000,
	maxRetries: 2,
	retryBaseDelayMs: 10,
	maxRateLimitRetries: 1,
	maxRateLimitWaitMs: 2000,
	defaultRateLimitWaitMs: 50,
	generateTimeoutMs: 300,
	upscaleTimeoutMs: 300,
	bodyTimeoutMs: 300,
	maxResponseBytes: 16 * 1024 * 1024
};

const TXT2IMG = '/sdapi/v1/txt2img';
const IMG2IMG = '/sdapi/v1/img2img';
const UPSCALE = '/sdapi/v1/extra-single-image';
const PASSWORD = 'hunter2-Secret!';

const servers: FakeA1111Server[] = [];
const providers: Automatic1111Provider[] = [];

afterEach(async () => {
	await Promise.all(providers.splice(0).map((provider) => provider.close()));
	await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function fake(options: { username?: string; password?: string } = {}): Promise<FakeA1111Server> {
	const server = await FakeA1111Server.start(options);
	servers.push(server);
	return server;
}

function provider(host: string, options: Partial<Automatic1111ProviderOptions> = {}): Automatic1111Provider {
	const created = new Automatic1111Provider({ host, steps: 25, upscaler: 'R-ESRGAN 4x+', http: settings, ...options });
	providers.push(created);
	return created;
}

function textRequest(overrides: Partial<ProviderTextToImage> = {}): ProviderTextToImage {
	return { prompt: 'a lighthouse at dusk', seed: 0, size: { width: 512, height: 384, aspectRatio: '4:5' }, ...overrides };
}

async function decoded(width: number, height: number): Promise<DecodedImage> {
	return { data: await pngImage(width, height), width, height };
}

function failureOf(result: GenerationResult) {
	expect(result.ok).toBe(false);
	return result.ok ? undefined : result;
}

describe('Automatic1111Provider: text to image', () => {
	it('sends the documented txt2img fields, -1 for a random seed, and returns the seed from info', async () => {
		const server = await fake();
		const sd = provider(server.url, { sampler: 'DPM++ 2M Karras' });
		const result = await sd.textToImage(textRequest({ negativePrompt: 'blurry', stylePreset: 'anime', cfgScale: 6.5 }), {});

		expect(result.ok).toBe(true);
		if (!result.ok) return;
		expect(result.image).toMatchObject({
			mimeType: 'image/png',
			width: 512,
			height: 384,
			seed: server.randomSeed,
			provider: 'automatic1111',
			model: 'stable-diffusion-webui',
			preview: false
		});
		expect(await imageSize(result.image.data)).toEqual({ width: 512, height: 384, format: 'png' });
		const [sent] = server.requestsTo(TXT2IMG);
		expect(sent?.method).toBe('POST');
		expect(sent?.headers['content-type']).toBe('application/json');
		expect(sent?.headers.authorization).toBeUndefined();
		expect(sent?.body).toEqual({
			prompt: 'a lighthouse at dusk, anime style',
			negative_prompt: 'blurry',
			seed: -1,
			sampler_name: 'DPM++ 2M Karras',
			steps: 25,
			cfg_scale: 6.5,
			width: 512,
			height: 384,
			batch_size: 1,
			n_iter: 1
		});
	});

	it('passes a chosen seed and steps through and leaves optional fields out', async () => {
		const server = await fake();
		const result = await provider(server.url).textToImage(textRequest({ seed: 4242, steps: 40 }), {});
		expect(result.ok && result.image.seed).toBe(4242);
		const body = server.requestsTo(TXT2IMG)[0]?.body;
		expect(body).toMatchObject({ prompt: 'a lighthouse at dusk', negative_prompt: '', seed: 4242, steps: 40 });
		expect(body).not.toHaveProperty('sampler_name');
		expect(body).not.toHaveProperty('cfg_scale');
		expect(body).not.toHaveProperty('styles');
	});

	it('falls back to the asked seed when info is not JSON', async () => {
		const server = await fake();
		server.fault({ kind: 'badInfo' });
		const result = await provider(server.url).textToImage(textRequest({ seed: 77 }), {});
		expect(result.ok && result.image.seed).toBe(77);
	});

	it('reports queue hooks and keeps a path prefix of the host', async () => {
		const server = await fake();
		let started = 0;
		const result = await provider(`${server.url}/`).textToImage(textRequest(), { onStarted: () => started++ });
		expect(result.ok).toBe(true);
		expect(started).toBe(1);
		expect(server.requests.map((request) => request.path)).toEqual([TXT2IMG]);
	});
});

describe('Automatic1111Provider: image to image and upscale', () => {
	it('sends init_images (base64 of the input), denoising_strength and the input size', async () => {
		const server = await fake();
		const image = await decoded(96, 64);
		const result = await provider(server.url).imageToImage({ prompt: 'make it snow', seed: 9, strength: 0.6, image }, {});

		expect(result.ok && result.image).toMatchObject({ width: 96, height: 64, seed: 9 });
		const body = server.requestsTo(IMG2IMG)[0]?.body;
		expect(body).toMatchObject({ prompt: 'make it snow', seed: 9, denoising_strength: 0.6, width: 96, height: 64, batch_size: 1 });
		expect(body?.init_images).toEqual([image.data.toString('base64')]);
	});

	it('rounds an input size that is not a multiple of 8', async () => {
		const server = await fake();
		const result = await provider(server.url).imageToImage({ prompt: 'p', seed: 0, strength: 0.35, image: await decoded(100, 75) }, {});
		expect(result.ok && [result.image.width, result.image.height]).toEqual([104, 72]);
		expect(server.requestsTo(IMG2IMG)[0]?.body).toMatchObject({ width: 104, height: 72, seed: -1 });
	});

	it('upscales with extra-single-image at 2x and returns exactly twice the size', async () => {
		const server = await fake();
		const image = await decoded(80, 48);
		const result = await provider(server.url).upscale({ image, width: 160, height: 96 }, {});

		expect(result.ok && result.image).toMatchObject({ width: 160, height: 96, mimeType: 'image/png', provider: 'automatic1111' });
		if (result.ok) expect(await imageSize(result.image.data)).toMatchObject({ width: 160, height: 96 });
		expect(server.requestsTo(UPSCALE)[0]?.body).toEqual({
			image: image.data.toString('base64'),
			upscaling_resize: 2,
			upscaler_1: 'R-ESRGAN 4x+'
		});
	});

	it('an upscale that came back at another size is delivered at exactly the asked size (by ImageGenerator)', async () => {
		const server = await fake();
		server.upscaleScaleOverride = 4;
		const direct = await provider(server.url).upscale({ image: await decoded(80, 48), width: 150, height: 90 }, {});
		expect(direct.ok && [direct.image.width, direct.image.height]).toEqual([320, 192]);
		const generator = ImageGenerator.create({
			provider: 'automatic1111',
			automatic1111: { host: server.url },
			http: { retryBaseDelayMs: 10 }
		});
		try {
			const result = await generator.upscaleImage({ image: await pngImage(80, 48), width: 150 });
			expect(result.ok && (await imageSize(result.image.data))).toEqual({ width: 150, height: 90, format: 'png' });
		} finally {
			await generator.close();
		}
	});
});

describe('Automatic1111Provider: auth', () => {
	it('sends HTTP Basic on every request when configured', async () => {
		const server = await fake({ username: 'bot', password: PASSWORD });
		const sd = provider(server.url, { username: 'bot', password: PASSWORD });
		const results = [
			await sd.textToImage(textRequest(), {}),
			await sd.imageToImage({ prompt: 'p', seed: 0, strength: 0.5, image: await decoded(64, 64) }, {}),
			await sd.upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {})
		];
		expect(results.map((result) => result.ok)).toEqual([true, true, true]);
		expect((await sd.probe({})).ok).toBe(true);
		const expected = `Basic ${Buffer.from(`bot:${PASSWORD}`).toString('base64')}`;
		expect(server.requests).toHaveLength(4);
		for (const request of server.requests) expect(request.headers.authorization).toBe(expected);
		expect(JSON.stringify(results.map((result) => (result.ok ? { ...result.image, data: undefined } : result)))).not.toContain(PASSWORD);
	});

	it('returns AUTH for a wrong password, without retrying and without the password in the result', async () => {
		const server = await fake({ username: 'bot', password: 'right-one' });
		const sd = provider(server.url, { username: 'bot', password: PASSWORD });
		const result = await sd.textToImage(textRequest(), {});
		expect(failureOf(result)?.reason).toBe('AUTH');
		expect(server.requests).toHaveLength(1);
		expect(JSON.stringify(result)).not.toContain(PASSWORD);
		expect(await sd.probe({})).toMatchObject({ ok: false, reason: 'AUTH' });
	});

	it('drops an error detail that echoes the credentials', async () => {
		const server = await fake();
		server.fault({ kind: 'status', status: 422, body: JSON.stringify({ detail: `bad password ${PASSWORD}` }) });
		const result = await provider(server.url, { username: 'bot', password: PASSWORD }).textToImage(textRequest(), {});
		expect(failureOf(result)?.reason).toBe('INVALID_INPUT');
		expect(JSON.stringify(result)).not.toContain(PASSWORD);
	});

	it('returns AUTH when credentials are missing', async () => {
		const server = await fake({ username: 'bot', password: PASSWORD });
		const result = await provider(server.url).upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {});
		expect(failureOf(result)?.reason).toBe('AUTH');
	});
});

describe('Automatic1111Provider: failures', () => {
	it('retries a 500 maxRetries times, then returns PROVIDER_ERROR', async () => {
		const server = await fake();
		server.fault({ kind: 'status', status: 500 });
		const result = await provider(server.url).textToImage(textRequest(), {});
		expect(failureOf(result)?.reason).toBe('PROVIDER_ERROR');
		expect(server.requestsTo(TXT2IMG)).toHaveLength(1 + settings.maxRetries);
	});

	it('recovers when a retried 500 succeeds', async () => {
		const server = await fake();
		server.fault({ kind: 'status', status: 500 }, { times: 1 });
		const result = await provider(server.url).textToImage(textRequest(), {});
		expect(result.ok).toBe(true);
		expect(server.requestsTo(TXT2IMG)).toHaveLength(2);
	});

	it('returns TIMEOUT when no headers arrive', async () => {
		const server = await fake();
		server.fault({ kind: 'noHeaders' });
		const result = await provider(server.url).textToImage(textRequest(), {});
		expect(failureOf(result)?.reason).toBe('TIMEOUT');
		expect(server.requests).toHaveLength(1);
	});

	it('returns TIMEOUT when the body stalls', async () => {
		const server = await fake();
		server.fault({ kind: 'stallBody' });
		const result = await provider(server.url).upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {});
		expect(failureOf(result)?.reason).toBe('TIMEOUT');
	});

	it('returns a cancelled TIMEOUT when the caller aborts', async () => {
		const server = await fake();
		server.fault({ kind: 'noHeaders' });
		const result = await provider(server.url).textToImage(textRequest(), { signal: AbortSignal.timeout(50) });
		expect(failureOf(result)).toMatchObject({ reason: 'TIMEOUT', message: expect.stringContaining('cancelled') });
	});

	it.each(['notImage', 'malformedJson', 'noImages'] as const)('returns PROVIDER_ERROR for a 200 with %s', async (kind) => {
		const server = await fake();
		server.fault({ kind });
		const result = await provider(server.url).textToImage(textRequest(), {});
		expect(failureOf(result)?.reason).toBe('PROVIDER_ERROR');
		expect(server.requests).toHaveLength(1);
	});

	it('returns PROVIDER_ERROR when an upscale is not an image', async () => {
		const server = await fake();
		server.fault({ kind: 'notImage' });
		const result = await provider(server.url).upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {});
		expect(failureOf(result)?.reason).toBe('PROVIDER_ERROR');
	});

	it('maps 422 to INVALID_INPUT and 404 to a message about --api', async () => {
		const server = await fake();
		server.fault({ kind: 'status', status: 422, body: JSON.stringify({ detail: 'Sampler not found' }) }, { times: 1 });
		server.fault({ kind: 'status', status: 404, body: JSON.stringify({ detail: 'Not Found' }) }, { times: 1 });
		const sd = provider(server.url);
		expect(failureOf(await sd.textToImage(textRequest(), {}))).toMatchObject({
			reason: 'INVALID_INPUT',
			message: expect.stringContaining('Sampler not found')
		});
		expect(failureOf(await sd.textToImage(textRequest(), {}))).toMatchObject({
			reason: 'PROVIDER_ERROR',
			message: expect.stringContaining('--api')
		});
	});

	it('returns UNAVAILABLE when nothing listens', async () => {
		const result = await provider(await closedPortUrl()).textToImage(textRequest(), {});
		expect(failureOf(result)?.reason).toBe('UNAVAILABLE');
	});
});

describe('Automatic1111Provider: probe', () => {
	it('asks the progress route (GET, without the current image) and says whether the web UI is generating', async () => {
		const server = await fake();
		expect(await provider(server.url).probe({})).toEqual({ ok: true, detail: "the web UI's API answers (generating now)" });
		const [sent] = server.requestsTo(PROGRESS_PATH);
		expect(sent?.method).toBe('GET');
		expect(sent?.query.get('skip_current_image')).toBe('true');
	});

	it("refuses an answer that is not the web UI's progress, and reports a server that is down", async () => {
		const server = await fake();
		server.fault({ kind: 'malformedJson' }, { path: PROGRESS_PATH, times: 1 });
		expect(await provider(server.url).probe({})).toMatchObject({
			ok: false,
			reason: 'PROVIDER_ERROR',
			message: expect.stringContaining('API_HOST')
		});
		expect(await provider(await closedPortUrl()).probe({})).toMatchObject({ ok: false, reason: 'UNAVAILABLE' });
	});
});

describe('Automatic1111Provider: sizes and limits', () => {
	it('resolves sizes to multiples of 8 within 64..2048', () => {
		const sd = provider('http://127.0.0.1:9');
		expect(sd.resolveSize({})).toEqual({ width: 512, height: 512, aspectRatio: '1:1' });
		expect(sd.resolveSize({ width: 500, height: 330 })).toEqual({ width: 504, height: 328, aspectRatio: '3:2' });
		expect(sd.resolveSize({ width: 768 })).toEqual({ width: 768, height: 768, aspectRatio: '1:1' });
		expect(sd.resolveSize({ height: 600, aspectRatio: '16:9' })).toMatchObject({ height: 600, aspectRatio: '16:9' });
		expect(sd.resolveSize({ width: 2048, aspectRatio: '9:21' })).toMatchObject({ height: 2048, aspectRatio: '9:21' });
		expect(typeof sd.resolveSize({ width: 4096 })).toBe('string');
		expect(typeof sd.resolveSize({ height: 32 })).toBe('string');
		for (const aspectRatio of ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'] as const) {
			const size = sd.resolveSize({ aspectRatio });
			if (typeof size === 'string') throw new Error(size);
			expect(size.aspectRatio).toBe(aspectRatio);
			expect([size.width % 64, size.height % 64]).toEqual([0, 0]);
			expect(size.width * size.height).toBeGreaterThan(0.8 * 512 * 512);
			expect(size.width * size.height).toBeLessThan(1.2 * 512 * 512);
		}
		expect(provider('http://127.0.0.1:9', { defaultSide: 1024 }).resolveSize({})).toMatchObject({ width: 1024, height: 1024 });
	});

	it('declares limits that keep a 2x upscale within 4096 px a side', () => {
		const { limits } = provider('http://127.0.0.1:9');
		expect(limits.maxPromptLength).toBe(10_000);
		expect(limits.input).toEqual({ minSide: 64, maxSide: 2048, maxPixels: 4_194_304 });
		expect(limits.upscaleInput.maxSide * 2).toBeLessThanOrEqual(4096);
	});

	it('refuses a host that is not an http URL without repeating it', () => {
		expect(() => new Automatic1111Provider({ host: `ftp://bot:${PASSWORD}@x`, steps: 20, upscaler: 'x', http: settings })).toThrow(/http/);
		expect(() => new Automatic1111Provider({ host: `not a url ${PASSWORD}`, steps: 20, upscaler: 'x', http: settings })).toThrow(
			expect.not.objectContaining({ message: expect.stringContaining(PASSWORD) })
		);
	});
});
