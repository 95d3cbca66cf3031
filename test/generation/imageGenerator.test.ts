import sharp from 'sharp';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { resolveGenerationOptions } from '../../src/plugins/generation/options.js';
import type { ImageProvider } from '../../src/plugins/generation/requests.js';
import { FakeStabilityServer, STABILITY_TEST_KEY } from './fakes/stabilityServer.js';

let generator: ImageGenerator | undefined;
afterEach(async () => {
	await generator?.close();
	generator = undefined;
});

function preview(options: Parameters<typeof ImageGenerator.create>[0] = {}) {
	generator = ImageGenerator.create({ provider: 'preview', ...options });
	return generator;
}

async function png(width: number, height: number): Promise<Buffer> {
	return sharp({ create: { width, height, channels: 3, background: { r: 40, g: 90, b: 160 } } })
		.png()
		.toBuffer();
}

describe('choosing the provider', () => {
	it('uses the offline preview provider when no key is set, and says so', () => {
		generator = ImageGenerator.create({});
		expect(generator.describe()).toEqual({
			provider: 'preview',
			model: 'preview',
			configured: true,
			preview: true,
			supports: { imageToImage: true, upscale: true }
		});
	});

	it('uses Stability when a key is set', () => {
		generator = ImageGenerator.create({ stability: { apiKey: 'sk-test-key-123456' } });
		expect(generator.describe()).toMatchObject({ provider: 'stability', configured: true, preview: false });
	});

	it('answers NOT_CONFIGURED, without throwing, when Stability is chosen without a key', async () => {
		generator = ImageGenerator.create({ provider: 'stability' });
		expect(generator.describe().configured).toBe(false);
		const result = await generator.textToImage({ prompt: 'a lighthouse' });
		expect(result).toEqual({ ok: false, reason: 'NOT_CONFIGURED', message: expect.stringContaining('Image generation is not configured') });
	});

	it('refuses wrong options naming the field, and never echoes a key', () => {
		expect(() => ImageGenerator.create({ http: { maxConcurrent: 0 } })).toThrow(/http\.maxConcurrent: expected 1 or more \(got 0\)/);
		expect(() => ImageGenerator.create({ stability: { apiKey: '' } })).toThrow(/stability\.apiKey: .*\(got a value of 0 characters\)/);
		// A typo beside a key: the error names the keys of the object, never its values.
		const secret = 'sk-live-0123456789abcdefSECRET';
		const typo = () => ImageGenerator.create({ stability: { apiKey: secret, modle: 'core' } as never });
		expect(typo).toThrow(/modle/);
		expect(typo).not.toThrow(new RegExp(secret));
	});

	it('refuses extra ComfyUI headers that would break requests, naming the header and never printing a value', () => {
		const token = 'Bearer proxy-secret-0123456789';
		const broken = (headers: unknown) => () => ImageGenerator.create({ provider: 'comfyui', comfyui: { headers: headers as never } });
		expect(broken({ 'X-Token': `${token}\r\nX-Injected: 1` })).toThrow(
			'- comfyui.headers: the value of X-Token must be one line (got an object with keys X-Token)'
		);
		expect(broken({ Host: 'elsewhere' })).toThrow('Host is set by the client itself and cannot be replaced');
		expect(broken({ 'Bad Name': 'x' })).toThrow('"Bad Name" is not a valid header name');
		expect(broken(token)).toThrow(/comfyui\.headers: .*\(got a value of 30 characters\)/);
		for (const headers of [{ 'X-Token': `${token}\n` }, token]) expect(broken(headers)).not.toThrow(/proxy-secret/);
	});

	it('refuses an OpenAI model name or base URL that cannot be right', () => {
		expect(() => ImageGenerator.create({ openai: { model: 'gpt image 1' } })).toThrow(
			/openai\.model: expected a model name such as gpt-image-1/
		);
		expect(() => ImageGenerator.create({ openai: { baseUrl: 'api.openai.com/v1' } })).toThrow(/openai\.baseUrl/);
	});

	it('lists the style presets', () => {
		expect(preview().getAvailableStyles()).toContain('fantasy-art');
		expect(preview().getAvailableStyles()).toHaveLength(17);
	});
});

describe('input checks before any call', () => {
	it.each([
		[{ prompt: '' }, /prompt is empty/],
		[{ prompt: '   ' }, /prompt is empty/],
		[{ prompt: 'x'.repeat(10_001) }, /prompt is too long: 10001 characters, at most 10000/],
		[{ prompt: 'ok', negativePrompt: 'x'.repeat(10_001) }, /negative prompt is too long/],
		[{ prompt: 'ok', stylePreset: 'vaporwave' }, /Unknown style\. Pick one of: 3d-model/],
		[{ prompt: 'ok', width: 63 }, /width must be a whole number of pixels from 64 to 4096/],
		[{ prompt: 'ok', height: 4097 }, /height must be/],
		[{ prompt: 'ok', width: 512.5 }, /width must be/],
		[{ prompt: 'ok', aspectRatio: '7:3' }, /Unknown aspect ratio/],
		[{ prompt: 'ok', seed: -1 }, /seed must be a whole number from 0 to 4294967294/],
		[{ prompt: 'ok', seed: 4_294_967_295 }, /seed must be/],
		[{ prompt: 'ok', steps: 5 }, /steps must be/],
		[{ prompt: 'ok', cfgScale: 36 }, /guidance scale/]
	])('%o is refused: %s', async (request, message) => {
		const result = await preview().textToImage(request);
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT', message: expect.stringMatching(message) });
	});

	it('refuses an image-to-image strength outside 0..1', async () => {
		const result = await preview().imageToImage({ image: await png(256, 256), prompt: 'ok', strength: 1.5 });
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT', message: 'The strength must be a number from 0 to 1.' });
	});

	it('refuses a file that is not an image', async () => {
		const result = await preview().imageToImage({ image: Buffer.from('%PDF-1.7 not an image at all'), prompt: 'ok' });
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT', message: 'That file is not an image (PNG, JPEG, WebP or GIF).' });
	});

	it('refuses a truncated image', async () => {
		const whole = await sharp({
			create: { width: 512, height: 512, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } }
		})
			.png()
			.toBuffer();
		const result = await preview().imageToImage({ image: whole.subarray(0, Math.floor(whole.length / 2)), prompt: 'ok' });
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT', message: expect.stringMatching(/damaged or cut off/) });
	});

	it('refuses a 50-megapixel image before decoding it', async () => {
		const bomb = await png(10_000, 5_000);
		expect(bomb.length).toBeLessThan(1024 * 1024); // small on the wire, huge once decoded
		const result = await preview().imageToImage({ image: bomb, prompt: 'ok' });
		expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT', message: 'The image has too many pixels (50 MP, at most 40 MP).' });
	});

	it('refuses an image over the byte cap', async () => {
		const result = await preview({ maxInputMb: 0.001 }).imageToImage({ image: await png(256, 256), prompt: 'ok' });
		expect(result).toMatchObject({
			ok: false,
			reason: 'INVALID_INPUT',
			message: expect.stringMatching(/^The image is too large: .* MB, at most 0 MB\.$/)
		});
	});
});

describe('results', () => {
	it('a text-to-image result is a real image of the size asked, marked as a preview', async () => {
		const result = await preview().textToImage({ prompt: 'a lighthouse', width: 768, height: 512, seed: 7 });
		if (!result.ok) throw new Error(result.message);
		expect(result.image).toMatchObject({ provider: 'preview', preview: true, mimeType: 'image/png', width: 768, height: 512, seed: 7 });
		expect(await sharp(result.image.data).metadata()).toMatchObject({ format: 'png', width: 768, height: 512 });
	});

	it('upscales to exactly twice the input by default, and to a width asked', async () => {
		const input = await png(300, 200);
		const twice = await preview().upscaleImage({ image: input });
		expect(twice.ok && [twice.image.width, twice.image.height]).toEqual([600, 400]);
		const wider = await preview().upscaleImage({ image: input, width: 900 });
		expect(wider.ok && [wider.image.width, wider.image.height]).toEqual([900, 600]);
		expect(await preview().upscaleImage({ image: input, width: 1201 })).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
	});
});

describe("a provider's answer", () => {
	/** A provider that answers every generation with `image`, as a misbehaving server would. */
	function answering(image: Buffer) {
		const provider: ImageProvider = {
			name: 'preview',
			model: 'oversize-test',
			supports: { imageToImage: true, upscale: true },
			limits: {
				maxPromptLength: 100,
				input: { minSide: 1, maxSide: 4096, maxPixels: 4_194_304 },
				upscaleInput: { minSide: 1, maxSide: 4096, maxPixels: 4_194_304 },
				maxOutputPixels: 4_194_304
			},
			resolveSize: () => ({ width: 1024, height: 1024, aspectRatio: '1:1' }),
			textToImage: async () => ({
				ok: true,
				image: { data: image, mimeType: 'image/png', width: 1, height: 1, seed: 1, provider: 'preview', model: 'x', preview: true }
			}),
			imageToImage: async () => ({ ok: false, reason: 'PROVIDER_ERROR', message: 'unused' }),
			upscale: async () => ({ ok: false, reason: 'PROVIDER_ERROR', message: 'unused' }),
			probe: async () => ({ ok: true, detail: 'unused' }),
			close: async () => undefined
		};
		generator = new ImageGenerator(resolveGenerationOptions({ provider: 'preview' }), provider);
		return generator;
	}

	it('larger than the provider can make is refused unread (PROVIDER_ERROR), not decoded, stored and re-encoded', async () => {
		const huge = await png(6000, 4000); // 24 MP: more than this provider's 4 MP
		const result = await answering(huge).textToImage({ prompt: 'a lighthouse' });
		expect(result).toMatchObject({ ok: false, reason: 'PROVIDER_ERROR' });
	});

	it('within what the provider can make is accepted with its real size', async () => {
		const result = await answering(await png(2048, 2048)).textToImage({ prompt: 'a lighthouse' });
		expect(result).toMatchObject({ ok: true, image: { width: 2048, height: 2048, mimeType: 'image/png' } });
	});
});

describe('work done once per job', () => {
	it("a Stability answer's header is parsed once, though the provider and the generator both check it", async () => {
		const server = await FakeStabilityServer.start();
		try {
			generator = ImageGenerator.create({ provider: 'stability', stability: { apiKey: STABILITY_TEST_KEY, host: server.url } });
			// A counter around sharp's real header reader: it calls through.
			const parses = vi.spyOn(sharp.prototype, 'metadata');
			const result = await generator.textToImage({ prompt: 'a lighthouse' });
			expect(result.ok).toBe(true);
			expect(parses).toHaveBeenCalledTimes(1);
		} finally {
			vi.restoreAllMocks();
			await server.close();
		}
	});
});
