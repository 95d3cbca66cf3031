import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generationMessages, type GenerationFailureReason, type GenerationResult } from '../../src/plugins/generation/GenerationResult.js';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import type { ProviderHttpSettings } from '../../src/plugins/generation/providers/ProviderSettings.js';
import { StabilityProvider, type StabilityProviderOptions } from '../../src/plugins/generation/providers/stability/StabilityProvider.js';
import type { DecodedImage, ProviderImageToImage, ProviderTextToImage } from '../../src/plugins/generation/requests.js';
import { imageSize, noisePng, pngImage } from './fakes/images.js';
import { FakeStabilityServer, STABILITY_TEST_KEY, type FilePart, type StabilityFault } from './fakes/stabilityServer.js';

const SETTINGS: ProviderHttpSettings = {
	maxConcurrent: 2,
	maxPerWindow: 150,
	windowMs: 10_000,
	maxRetries: 2,
	retryBaseDelayMs: 10,
	maxRateLimitRetries: 1,
	maxRateLimitWaitMs: 2000,
	defaultRateLimitWaitMs: 50,
	generateTimeoutMs: 300,
	upscaleTimeoutMs: 300,
	bodyTimeoutMs: 300,
	maxResponseBytes: 8 * 1024 * 1024
};
const SDXL = 'stable-diffusion-xl-1024-v1-0';
const RANDOM_SEED = 1_234_567;

let fake: FakeStabilityServer;
const providers: StabilityProvider[] = [];

beforeEach(async () => {
	fake = await FakeStabilityServer.start();
});

afterEach(async () => {
	await Promise.all(providers.splice(0).map((provider) => provider.close()));
	await fake.close();
});

function stability(options: Partial<StabilityProviderOptions> = {}, http: Partial<ProviderHttpSettings> = {}): StabilityProvider {
	const provider = new StabilityProvider({
		apiKey: STABILITY_TEST_KEY,
		host: fake.url,
		api: 'v2beta',
		model: 'core',
		sd3Model: 'sd3.5-large',
		engine: SDXL,
		upscaleEngine: 'esrgan-v1-x2plus',
		clientId: 'imagine-tests',
		...options,
		http: { ...SETTINGS, ...http }
	});
	providers.push(provider);
	return provider;
}

function textRequest(overrides: Partial<ProviderTextToImage> = {}): ProviderTextToImage {
	return {
		prompt: 'a lighthouse at dusk',
		negativePrompt: 'fog',
		stylePreset: 'analog-film',
		size: { width: 1344, height: 768, aspectRatio: '16:9' },
		seed: 42,
		...overrides
	};
}

async function decoded(width: number, height: number): Promise<DecodedImage> {
	return { data: await pngImage(width, height), width, height };
}

async function imageRequest(overrides: Partial<ProviderImageToImage> = {}): Promise<ProviderImageToImage> {
	const { size: _size, ...text } = textRequest();
	return { ...text, image: await decoded(320, 256), strength: 0.35, ...overrides };
}

function expectImage(result: GenerationResult) {
	if (!result.ok) throw new Error(`expected an image, got ${result.reason}: ${result.message}; fake refused: ${fake.problems.join(' | ')}`);
	expect(JSON.stringify(result)).not.toContain(STABILITY_TEST_KEY);
	return result.image;
}

function expectFailure(result: GenerationResult, reason: GenerationFailureReason) {
	expect(result.ok).toBe(false);
	if (result.ok) throw new Error('unreachable');
	expect(result.reason).toBe(reason);
	expect(JSON.stringify(result)).not.toContain(STABILITY_TEST_KEY);
	return result;
}

function file(value: unknown): FilePart {
	expect(typeof value).toBe('object');
	return value as FilePart;
}

describe('v2beta text-to-image', () => {
	it('core: multipart with exactly the documented fields and headers; bytes with finish-reason and seed', async () => {
		const provider = stability();
		expect(provider).toMatchObject({ name: 'stability', model: 'stable-image-core' });
		const onStarted = vi.fn();
		const image = expectImage(await provider.textToImage(textRequest(), { onStarted }));
		expect(image).toMatchObject({
			mimeType: 'image/png',
			width: 1344,
			height: 768,
			seed: 42,
			provider: 'stability',
			model: 'stable-image-core',
			preview: false
		});
		expect(await imageSize(image.data)).toMatchObject({ width: 1344, height: 768, format: 'png' });
		expect(onStarted).toHaveBeenCalledOnce();
		expect(fake.problems).toEqual([]);
		const [request] = fake.requests;
		expect(request).toMatchObject({ method: 'POST', path: '/v2beta/stable-image/generate/core' });
		expect(request?.headers).toMatchObject({
			authorization: `Bearer ${STABILITY_TEST_KEY}`,
			accept: 'image/*',
			'stability-client-id': 'imagine-tests'
		});
		expect(request?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
		expect(request?.fields).toEqual({
			prompt: 'a lighthouse at dusk',
			negative_prompt: 'fog',
			aspect_ratio: '16:9',
			seed: '42',
			style_preset: 'analog-film',
			output_format: 'png'
		});
	});

	it('ultra: a zero seed, no negative prompt and no style are left out; the seed comes from the header', async () => {
		const provider = stability({ model: 'ultra', clientId: undefined });
		expect(provider.model).toBe('stable-image-ultra');
		const image = expectImage(
			await provider.textToImage(
				textRequest({
					seed: 0,
					negativePrompt: undefined,
					stylePreset: undefined,
					size: { width: 1024, height: 1024, aspectRatio: '1:1' }
				}),
				{}
			)
		);
		expect(image).toMatchObject({ width: 1024, height: 1024, seed: RANDOM_SEED, model: 'stable-image-ultra' });
		expect(fake.requests[0]?.path).toBe('/v2beta/stable-image/generate/ultra');
		expect(fake.requests[0]?.headers['stability-client-id']).toBeUndefined();
		expect(fake.requests[0]?.fields).toEqual({ prompt: 'a lighthouse at dusk', aspect_ratio: '1:1', output_format: 'png' });
		expect(fake.problems).toEqual([]);
	});

	it('sd3: adds model, mode=text-to-image and cfg_scale', async () => {
		const provider = stability({ model: 'sd3', sd3Model: 'sd3.5-medium' });
		expect(provider.model).toBe('sd3.5-medium');
		const image = expectImage(
			await provider.textToImage(textRequest({ cfgScale: 5, size: { width: 832, height: 1216, aspectRatio: '2:3' } }), {})
		);
		expect(image).toMatchObject({ width: 832, height: 1216, model: 'sd3.5-medium' });
		expect(fake.requests[0]?.path).toBe('/v2beta/stable-image/generate/sd3');
		expect(fake.requests[0]?.fields).toEqual({
			prompt: 'a lighthouse at dusk',
			negative_prompt: 'fog',
			aspect_ratio: '2:3',
			seed: '42',
			style_preset: 'analog-film',
			output_format: 'png',
			model: 'sd3.5-medium',
			mode: 'text-to-image',
			cfg_scale: '5'
		});
		expect(fake.problems).toEqual([]);
	});

	it('reads a JSON 200 ({ image, finish_reason, seed }) when the server answers JSON', async () => {
		fake.script({ kind: 'json' });
		const image = expectImage(await stability().textToImage(textRequest({ seed: 7 }), {}));
		expect(image).toMatchObject({ width: 1344, height: 768, seed: 7, mimeType: 'image/png' });
	});
});

describe('v2beta image-to-image', () => {
	it('ultra: image as a PNG file part plus strength, no aspect_ratio; the result keeps the input size', async () => {
		const provider = stability({ model: 'ultra' });
		const image = expectImage(await provider.imageToImage(await imageRequest({ strength: 0.6 }), {}));
		expect(image).toMatchObject({ width: 320, height: 256, model: 'stable-image-ultra', seed: 42 });
		const [request] = fake.requests;
		expect(request?.path).toBe('/v2beta/stable-image/generate/ultra');
		const { image: part, ...fields } = request?.fields ?? {};
		expect(file(part)).toMatchObject({ filename: 'image.png', type: 'image/png', format: 'png', width: 320, height: 256 });
		expect(fields).toEqual({
			prompt: 'a lighthouse at dusk',
			negative_prompt: 'fog',
			seed: '42',
			style_preset: 'analog-film',
			output_format: 'png',
			strength: '0.6'
		});
		expect(fake.problems).toEqual([]);
	});

	it.each(['core', 'sd3'] as const)('%s: goes to sd3 with mode=image-to-image (core takes no image)', async (model) => {
		const provider = stability({ model });
		const image = expectImage(await provider.imageToImage(await imageRequest({ cfgScale: 4 }), {}));
		expect(image.model).toBe('sd3.5-large');
		const [request] = fake.requests;
		expect(request?.path).toBe('/v2beta/stable-image/generate/sd3');
		expect(request?.fields).toMatchObject({ model: 'sd3.5-large', mode: 'image-to-image', strength: '0.35', cfg_scale: '4' });
		expect(file(request?.fields.image)).toMatchObject({ width: 320, height: 256 });
		expect(request?.fields.aspect_ratio).toBeUndefined();
		expect(fake.problems).toEqual([]);
	});
	it('an input whose PNG would push the request over 10 MiB is sent as JPEG instead', async () => {
		const data = await noisePng(1900, 1900);
		expect(data.length).toBeGreaterThan(10 * 1024 * 1024);
		const image = expectImage(
			await stability({ model: 'ultra' }).imageToImage(await imageRequest({ image: { data, width: 1900, height: 1900 } }), {})
		);
		expect(image).toMatchObject({ width: 1900, height: 1900 });
		expect(file(fake.requests[0]?.fields.image)).toMatchObject({ filename: 'image.jpg', type: 'image/jpeg', format: 'jpeg', width: 1900 });
		expect(fake.requests[0]?.bodyBytes).toBeLessThan(10 * 1024 * 1024);
		expect(fake.problems).toEqual([]);
	});
});

describe('v2beta upscale', () => {
	it('sends the image to upscale/fast and returns its 4x answer (ImageGenerator resizes it to the size asked)', async () => {
		const provider = stability();
		const image = expectImage(await provider.upscale({ image: await decoded(160, 120), width: 320, height: 240 }, {}));
		expect(image).toMatchObject({ width: 640, height: 480, mimeType: 'image/png', model: 'stable-image-upscale-fast' });
		expect(await imageSize(image.data)).toMatchObject({ width: 640, height: 480 });
		const [request] = fake.requests;
		expect(request?.path).toBe('/v2beta/stable-image/upscale/fast');
		expect(request?.headers.accept).toBe('image/*');
		expect(Object.keys(request?.fields ?? {}).sort()).toEqual(['image', 'output_format']);
		expect(file(request?.fields.image)).toMatchObject({ width: 160, height: 120, type: 'image/png' });
		expect(fake.problems).toEqual([]);
	});

	it('through ImageGenerator, a 2x upscale is exactly twice the input', async () => {
		const generator = ImageGenerator.create({
			provider: 'stability',
			stability: { apiKey: STABILITY_TEST_KEY, host: fake.url },
			http: { retryBaseDelayMs: 10 }
		});
		try {
			const result = await generator.upscaleImage({ image: await pngImage(160, 120) });
			expect(result.ok && (await imageSize(result.image.data))).toMatchObject({ width: 320, height: 240 });
			expect(result.ok && [result.image.width, result.image.height]).toEqual([320, 240]);
		} finally {
			await generator.close();
		}
	});

	it('declares the fast upscaler input box', () => {
		expect(stability().limits).toEqual({
			maxPromptLength: 10_000,
			input: { minSide: 64, maxSide: 16_384, maxPixels: 4_194_304 },
			upscaleInput: { minSide: 32, maxSide: 1536, maxPixels: 1_048_576 },
			// upscale/fast: 4x a 1 MP input, at most 16 MP.
			maxOutputPixels: 16_777_216
		});
	});
});

describe('v1', () => {
	it('text-to-image: the documented JSON body, Accept image/png, the engine in the path', async () => {
		const provider = stability({ api: 'v1' });
		expect(provider.model).toBe(SDXL);
		expect(provider.limits.maxPromptLength).toBe(2000);
		const image = expectImage(await provider.textToImage(textRequest(), {}));
		expect(image).toMatchObject({ width: 1344, height: 768, seed: 42, model: SDXL });
		const [request] = fake.requests;
		expect(request?.path).toBe(`/v1/generation/${SDXL}/text-to-image`);
		expect(request?.headers).toMatchObject({
			authorization: `Bearer ${STABILITY_TEST_KEY}`,
			accept: 'image/png',
			'content-type': 'application/json'
		});
		expect(request?.json).toEqual({
			text_prompts: [
				{ text: 'a lighthouse at dusk', weight: 1 },
				{ text: 'fog', weight: -1 }
			],
			cfg_scale: 7,
			height: 768,
			width: 1344,
			samples: 1,
			steps: 30,
			seed: 42,
			style_preset: 'analog-film'
		});
		expect(fake.problems).toEqual([]);
	});

	it('reads the JSON shape { artifacts: [{ base64, seed, finishReason }] }', async () => {
		fake.script({ kind: 'json' });
		const image = expectImage(await stability({ api: 'v1' }).textToImage(textRequest({ seed: 0 }), {}));
		expect(image).toMatchObject({ width: 1344, height: 768, seed: RANDOM_SEED });
	});

	it('a non-SDXL engine gets multiples of 64 within its pixel bounds', async () => {
		const provider = stability({ api: 'v1', engine: 'stable-diffusion-v1-6' });
		const size = provider.resolveSize({ width: 1000, height: 700 });
		// Snapped down: 1000x700 -> 960x640.
		expect(size).toEqual({ width: 960, height: 640, aspectRatio: '3:2' });
		const image = expectImage(await provider.textToImage(textRequest({ size: size as never, steps: 40, cfgScale: 9 }), {}));
		expect(image).toMatchObject({ width: 960, height: 640 });
		expect(fake.requests[0]?.json).toMatchObject({ width: 960, height: 640, steps: 40, cfg_scale: 9 });
		expect(fake.problems).toEqual([]);
	});

	it('image-to-image: multipart init_image (resized to an SDXL size), IMAGE_STRENGTH and text_prompts fields', async () => {
		const provider = stability({ api: 'v1' });
		const image = expectImage(await provider.imageToImage(await imageRequest({ image: await decoded(400, 300), strength: 0.35 }), {}));
		expect(image).toMatchObject({ width: 1152, height: 896, model: SDXL });
		const [request] = fake.requests;
		expect(request?.path).toBe(`/v1/generation/${SDXL}/image-to-image`);
		expect(request?.headers.accept).toBe('image/png');
		const { init_image: part, ...fields } = request?.fields ?? {};
		expect(file(part)).toMatchObject({ width: 1152, height: 896, format: 'png' });
		expect(fields).toEqual({
			init_image_mode: 'IMAGE_STRENGTH',
			// v1 counts how much of the input to keep: our strength 0.35 ("move 35% away") is 0.65 there.
			image_strength: '0.65',
			'text_prompts[0][text]': 'a lighthouse at dusk',
			'text_prompts[0][weight]': '1',
			'text_prompts[1][text]': 'fog',
			'text_prompts[1][weight]': '-1',
			cfg_scale: '7',
			samples: '1',
			steps: '30',
			seed: '42',
			style_preset: 'analog-film'
		});
		expect(fake.problems).toEqual([]);
	});

	it('upscale: esrgan doubles by default (no width sent); another width is sent as width only', async () => {
		const provider = stability({ api: 'v1' });
		const doubled = expectImage(await provider.upscale({ image: await decoded(300, 200), width: 600, height: 400 }, {}));
		expect(doubled).toMatchObject({ width: 600, height: 400, model: 'esrgan-v1-x2plus' });
		const wider = expectImage(await provider.upscale({ image: await decoded(300, 200), width: 900, height: 600 }, {}));
		expect(wider).toMatchObject({ width: 900, height: 600 });
		expect(fake.requests.map((request) => request.path)).toEqual([
			'/v1/generation/esrgan-v1-x2plus/image-to-image/upscale',
			'/v1/generation/esrgan-v1-x2plus/image-to-image/upscale'
		]);
		expect(Object.keys(fake.requests[0]?.fields ?? {})).toEqual(['image']);
		expect(fake.requests[1]?.fields.width).toBe('900');
		expect(fake.requests[1]?.fields.height).toBeUndefined();
		expect(fake.problems).toEqual([]);
	});

	it('a removed engine (404) tells the owner to pick another', async () => {
		const result = expectFailure(
			await stability({ api: 'v1', engine: 'stable-diffusion-512-v2-1' }).textToImage(textRequest(), {}),
			'PROVIDER_ERROR'
		);
		expect(result.message).toMatch(/pick another/);
		expect(fake.requests).toHaveLength(1);
	});

	it.each([
		['CONTENT_FILTERED header', 'CONTENT_FILTERED', { kind: 'filtered', format: 'bytes' }],
		['CONTENT_FILTERED in artifacts', 'CONTENT_FILTERED', { kind: 'filtered', format: 'json' }],
		['ERROR header', 'PROVIDER_ERROR', { kind: 'finish', reason: 'ERROR', format: 'bytes' }],
		['ERROR in artifacts', 'PROVIDER_ERROR', { kind: 'finish', reason: 'ERROR', format: 'json' }]
	] as [string, GenerationFailureReason, StabilityFault][])('finish reason %s is %s, with one request', async (_name, reason, fault) => {
		fake.script(fault);
		expectFailure(await stability({ api: 'v1' }).textToImage(textRequest(), {}), reason);
		expect(fake.requests).toHaveLength(1);
	});
});

describe('resolveSize', () => {
	it('v2beta: the nearest aspect ratio at its nominal ~1 MP size; a given ratio wins', () => {
		const provider = stability();
		expect(provider.resolveSize({})).toEqual({ width: 1024, height: 1024, aspectRatio: '1:1' });
		expect(provider.resolveSize({ width: 1920, height: 1080 })).toEqual({ width: 1344, height: 768, aspectRatio: '16:9' });
		expect(provider.resolveSize({ width: 600, height: 900 })).toEqual({ width: 832, height: 1216, aspectRatio: '2:3' });
		expect(provider.resolveSize({ width: 1920, height: 1080, aspectRatio: '9:21' })).toEqual({
			width: 640,
			height: 1536,
			aspectRatio: '9:21'
		});
		expect(typeof provider.resolveSize({ width: -5, height: 100 })).toBe('string');
	});

	it('v1 SDXL: only the documented sizes, by nearest ratio', () => {
		const provider = stability({ api: 'v1' });
		const allowed = ['1024x1024', '1152x896', '1216x832', '1344x768', '1536x640', '896x1152', '832x1216', '768x1344', '640x1536'];
		expect(provider.resolveSize({ width: 512, height: 512 })).toMatchObject({ width: 1024, height: 1024 });
		expect(provider.resolveSize({ width: 1920, height: 1080 })).toMatchObject({ width: 1344, height: 768 });
		expect(provider.resolveSize({ aspectRatio: '9:21' })).toMatchObject({ width: 640, height: 1536 });
		expect(provider.resolveSize({ width: 4000, height: 100 })).toMatchObject({ width: 1536, height: 640 });
		for (let width = 64; width <= 4096; width += 96) {
			for (let height = 64; height <= 4096; height += 160) {
				const size = provider.resolveSize({ width, height });
				if (typeof size === 'string') throw new Error(size);
				expect(allowed).toContain(`${size.width}x${size.height}`);
			}
		}
	});

	it.each([
		['stable-diffusion-v1-6', 262_144],
		['stable-diffusion-768-v2-1', 589_824]
	])('v1 %s: always multiples of 64, >= 128 a side, %i px .. 1 MP', (engine, minPixels) => {
		const provider = stability({ api: 'v1', engine });
		expect(provider.resolveSize({ width: 1000, height: 1000 })).toMatchObject({ width: 960, height: 960 });
		for (let width = 64; width <= 4096; width += 61) {
			for (let height = 64; height <= 4096; height += 127) {
				const size = provider.resolveSize({ width, height });
				if (typeof size === 'string') throw new Error(size);
				const ok =
					size.width % 64 === 0 &&
					size.height % 64 === 0 &&
					Math.min(size.width, size.height) >= 128 &&
					size.width * size.height >= minPixels &&
					size.width * size.height <= 1_048_576;
				if (!ok) throw new Error(`${width}x${height} -> ${size.width}x${size.height}`);
			}
		}
	});
});

describe('failures', () => {
	it('401 (a wrong key) is AUTH, one request, and neither key appears anywhere in the result', async () => {
		const wrongKey = 'sk-WRONGkey0000000000000000000000';
		const result = expectFailure(await stability({ apiKey: wrongKey }).textToImage(textRequest(), {}), 'AUTH');
		expect(JSON.stringify(result)).not.toContain(wrongKey);
		expect(fake.requests).toHaveLength(1);
	});

	it.each([
		[403, 'content_moderation', 'CONTENT_FILTERED', 'Your request was flagged by our content moderation system.'],
		[403, 'permission_denied', 'AUTH', 'You lack the necessary permissions.'],
		[400, 'bad_request', 'INVALID_INPUT', 'aspect_ratio: must be one of 16:9, 1:1'],
		[413, 'payload_too_large', 'INVALID_INPUT', 'Your request was larger than 10MiB.'],
		[422, 'invalid_language', 'INVALID_INPUT', 'English is the only supported language.']
	] as const)('%i %s is %s and is never retried', async (status, name, reason, message) => {
		fake.script({ kind: 'error', status, name, message });
		expectFailure(await stability().textToImage(textRequest(), {}), reason);
		expect(fake.requests).toHaveLength(1);
	});

	it("422 passes the provider's reason on, but never the key, even when the provider echoes it", async () => {
		fake.script({ kind: 'error', status: 422, name: 'invalid_language', message: 'English is the only supported language.' });
		const plain = expectFailure(await stability().textToImage(textRequest(), {}), 'INVALID_INPUT');
		expect(plain.message).toContain('invalid_language: English is the only supported language.');
		fake.script({ kind: 'error', status: 422, name: 'invalid_request', message: `key ${STABILITY_TEST_KEY} cannot do this` });
		const echoed = expectFailure(await stability().textToImage(textRequest(), {}), 'INVALID_INPUT');
		expect(echoed.message).toContain('invalid_request: key');
	});

	it('429 with Retry-After: 1 waits it out and succeeds on the second try', async () => {
		fake.script({ kind: 'rateLimit', retryAfter: '1' });
		const started = Date.now();
		expectImage(await stability().textToImage(textRequest(), {}));
		expect(Date.now() - started).toBeGreaterThanOrEqual(950);
		expect(fake.requests).toHaveLength(2);
	});

	it('429 without Retry-After waits the default once, then is RATE_LIMITED with retryAfterMs', async () => {
		fake.script({ kind: 'rateLimit' }, { kind: 'rateLimit' });
		const result = expectFailure(await stability().textToImage(textRequest(), {}), 'RATE_LIMITED');
		expect(result.retryAfterMs).toBe(SETTINGS.defaultRateLimitWaitMs);
		expect(fake.requests).toHaveLength(2);
	});

	it('429 with a Retry-After longer than maxRateLimitWaitMs is RATE_LIMITED at once', async () => {
		fake.script({ kind: 'rateLimit', retryAfter: '60' });
		const result = expectFailure(await stability().textToImage(textRequest(), {}), 'RATE_LIMITED');
		expect(result.retryAfterMs).toBe(60_000);
		expect(result.message).toContain('60 s');
		expect(fake.requests).toHaveLength(1);
	});

	it('500 is retried maxRetries times (1 + maxRetries requests), then PROVIDER_ERROR', async () => {
		const error: StabilityFault = { kind: 'error', status: 500, name: 'server_error', message: 'An unexpected server error occurred.' };
		fake.script(error, error, error, error);
		expectFailure(await stability().textToImage(textRequest(), {}), 'PROVIDER_ERROR');
		expect(fake.requests).toHaveLength(1 + SETTINGS.maxRetries);
	});

	it('a 500 followed by a success delivers the image', async () => {
		fake.script({ kind: 'error', status: 500, name: 'server_error', message: 'try again' });
		expectImage(await stability().textToImage(textRequest(), {}));
		expect(fake.requests).toHaveLength(2);
	});

	it('503 after the retries is UNAVAILABLE', async () => {
		const error: StabilityFault = { kind: 'error', status: 503, name: 'service_unavailable', message: 'down' };
		fake.script(error, error, error);
		expectFailure(await stability().textToImage(textRequest(), {}), 'UNAVAILABLE');
		expect(fake.requests).toHaveLength(1 + SETTINGS.maxRetries);
	});

	it('a server that never sends headers is a TIMEOUT after generateTimeoutMs, not retried', async () => {
		fake.script({ kind: 'noHeaders' });
		const started = Date.now();
		const result = expectFailure(await stability().textToImage(textRequest(), {}), 'TIMEOUT');
		const elapsed = Date.now() - started;
		expect(result.message).toBe(generationMessages.timeout);
		expect(elapsed).toBeGreaterThanOrEqual(250);
		expect(fake.requests).toHaveLength(1);
	});

	it('an upscale is held to upscaleTimeoutMs and a generation to generateTimeoutMs, each on both APIs', async () => {
		// Both answer after 3 s. A 200 ms upscale time-out must cut the upscale off: were the 10 s generation time-out
		// applied to it instead, the image would arrive. The generation, under its 10 s, gets its image.
		const http = { upscaleTimeoutMs: 200, generateTimeoutMs: 10_000 };
		for (const api of ['v2beta', 'v1'] as const) {
			fake.script({ kind: 'slow', ms: 3000 }, { kind: 'slow', ms: 3000 });
			const provider = stability({ api }, http);
			expectFailure(await provider.upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {}), 'TIMEOUT');
			expect((await provider.textToImage(textRequest(), {})).ok).toBe(true);
		}
	});

	it('a body that stalls half-way is a TIMEOUT after bodyTimeoutMs', async () => {
		fake.script({ kind: 'stallBody' });
		expectFailure(await stability().textToImage(textRequest(), {}), 'TIMEOUT');
		expect(fake.requests).toHaveLength(1);
	});

	it('a connection cut after a 200 began is PROVIDER_ERROR, not retried (the image may already be charged)', async () => {
		fake.script({ kind: 'cutConnection' }, { kind: 'cutConnection' }, { kind: 'cutConnection' });
		expectFailure(await stability().textToImage(textRequest(), {}), 'PROVIDER_ERROR');
		expect(fake.requests).toHaveLength(1);
	});

	it('a whole response holding a cut-off PNG is PROVIDER_ERROR', async () => {
		fake.script({ kind: 'truncatedImage' });
		expectFailure(await stability().textToImage(textRequest(), {}), 'PROVIDER_ERROR');
		expect(fake.requests).toHaveLength(1);
	});

	it.each([true, false])('a body over maxResponseBytes (content-length declared: %s) is PROVIDER_ERROR', async (declareLength) => {
		fake.script({ kind: 'oversize', bytes: 2 * 1024 * 1024, declareLength });
		expectFailure(await stability({}, { maxResponseBytes: 256 * 1024 }).textToImage(textRequest(), {}), 'PROVIDER_ERROR');
		expect(fake.requests).toHaveLength(1);
	});

	it('a 200 that is not an image is PROVIDER_ERROR', async () => {
		fake.script({ kind: 'notImage' });
		expectFailure(await stability().textToImage(textRequest(), {}), 'PROVIDER_ERROR');
		expect(fake.requests).toHaveLength(1);
	});

	it.each(['bytes', 'json'] as const)(
		'finish reason CONTENT_FILTERED (%s) is CONTENT_FILTERED with exactly one request',
		async (format) => {
			fake.script({ kind: 'filtered', format }, { kind: 'filtered', format });
			expectFailure(await stability().textToImage(textRequest(), {}), 'CONTENT_FILTERED');
			expect(fake.requests).toHaveLength(1);
		}
	);

	it('an unknown finish reason is not delivered', async () => {
		fake.script({ kind: 'finish', reason: 'SOMETHING_NEW' });
		expectFailure(await stability().textToImage(textRequest(), {}), 'PROVIDER_ERROR');
	});

	it('a filtered upscale or image-to-image is CONTENT_FILTERED too', async () => {
		fake.script({ kind: 'filtered' }, { kind: 'filtered' });
		const provider = stability({ model: 'ultra' });
		expectFailure(await provider.upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {}), 'CONTENT_FILTERED');
		expectFailure(await provider.imageToImage(await imageRequest(), {}), 'CONTENT_FILTERED');
		expect(fake.requests).toHaveLength(2);
	});

	it('an AbortSignal aborts the request in flight, before its time-out, and the server sees the connection go', async () => {
		fake.script({ kind: 'noHeaders' });
		const controller = new AbortController();
		const pending = stability({}, { generateTimeoutMs: 10_000 }).textToImage(textRequest(), { signal: controller.signal });
		await vi.waitFor(() => expect(fake.requests).toHaveLength(1));
		controller.abort();
		const result = expectFailure(await pending, 'TIMEOUT');
		// Cancelled, not timed out: the abort ended the call, not the 10 s time-out.
		expect(result.message).toBe(generationMessages.cancelled);
		await vi.waitFor(() => expect(fake.requests[0]?.aborted).toBe(true));
	});

	it('the key travels only in the Authorization header', async () => {
		const provider = stability();
		expectImage(await provider.textToImage(textRequest(), {}));
		expectImage(await provider.upscale({ image: await decoded(64, 64), width: 128, height: 128 }, {}));
		for (const request of fake.requests) {
			const { authorization, ...headers } = request.headers;
			expect(authorization).toBe(`Bearer ${STABILITY_TEST_KEY}`);
			expect(JSON.stringify({ headers, fields: request.fields, path: request.path })).not.toContain(STABILITY_TEST_KEY);
		}
	});
});
