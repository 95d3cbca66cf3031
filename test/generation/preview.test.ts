import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { generationMessages, type GenerationResult, type GeneratedImage } from '../../src/plugins/generation/GenerationResult.js';
import { PreviewProvider, wrapText } from '../../src/plugins/generation/providers/preview.js';
import { xmlText } from '../../src/plugins/shared/xmlText.js';
import { MAX_SEED, type Dimensions, type ProviderTextToImage } from '../../src/plugins/generation/requests.js';

const provider = new PreviewProvider();

function size(asked: Parameters<PreviewProvider['resolveSize']>[0] = {}): Dimensions {
	const resolved = provider.resolveSize(asked);
	if (typeof resolved === 'string') throw new Error(resolved);
	return resolved;
}

function image(result: GenerationResult): GeneratedImage {
	if (!result.ok) throw new Error(`${result.reason}: ${result.message}`);
	return result.image;
}

/** Decodes the PNG for real (not just its header) and returns what sharp sees. */
async function decoded(data: Buffer) {
	const metadata = await sharp(data).metadata();
	const { info } = await sharp(data, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
	expect(data.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
	return { format: metadata.format, width: info.width, height: info.height, exif: metadata.exif, icc: metadata.icc, xmp: metadata.xmp };
}

function textToImage(request: Partial<ProviderTextToImage> = {}) {
	return provider.textToImage({ prompt: 'a lighthouse at dusk', size: size(), seed: 1234, ...request }, {});
}

async function inputPng(width: number, height: number, colour = '#2060c0'): Promise<Buffer> {
	return sharp({ create: { width, height, channels: 3, background: colour } })
		.png()
		.toBuffer();
}

describe('PreviewProvider: identity and limits', () => {
	it('is the offline preview provider', () => {
		expect(provider.name).toBe('preview');
		expect(provider.model).toBe('preview');
		expect(provider.limits).toEqual({
			maxPromptLength: 10_000,
			input: { minSide: 64, maxSide: 2048, maxPixels: 4_194_304 },
			upscaleInput: { minSide: 32, maxSide: 2048, maxPixels: 4_194_304 },
			maxOutputPixels: 16_777_216
		});
	});

	it('close() is a no-op and the provider still works after it', async () => {
		const own = new PreviewProvider();
		await expect(own.close()).resolves.toBeUndefined();
		const result = image(await own.textToImage({ prompt: 'x', size: size({ width: 64, height: 64 }), seed: 1 }, {}));
		expect(result.width).toBe(64);
	});
});

describe('PreviewProvider.resolveSize', () => {
	it('defaults to 1024x1024 (1:1)', () => {
		expect(provider.resolveSize({})).toEqual({ width: 1024, height: 1024, aspectRatio: '1:1' });
	});

	it('keeps what was asked, rounded to multiples of 8 and clamped to 64..2048', () => {
		expect(provider.resolveSize({ width: 800, height: 600 })).toEqual({ width: 800, height: 600, aspectRatio: '5:4' });
		expect(provider.resolveSize({ width: 803, height: 597 })).toEqual({ width: 800, height: 600, aspectRatio: '5:4' });
		expect(provider.resolveSize({ width: 10, height: 5000 })).toEqual({ width: 64, height: 2048, aspectRatio: '9:21' });
		expect(provider.resolveSize({ width: 1920, height: 1080 })).toEqual({ width: 1920, height: 1080, aspectRatio: '16:9' });
	});

	it('derives about 1 MP from an aspect ratio alone', () => {
		for (const aspectRatio of ['21:9', '16:9', '3:2', '1:1', '2:3', '9:16', '9:21'] as const) {
			const resolved = size({ aspectRatio });
			expect(resolved.aspectRatio).toBe(aspectRatio);
			expect(resolved.width % 8).toBe(0);
			expect(resolved.height % 8).toBe(0);
			expect(resolved.width * resolved.height).toBeGreaterThan(0.9 * 1_048_576);
			expect(resolved.width * resolved.height).toBeLessThan(1.1 * 1_048_576);
		}
		expect(size({ aspectRatio: '16:9' })).toEqual({ width: 1368, height: 768, aspectRatio: '16:9' });
	});

	it('derives the missing side from one side and a ratio, or makes a square', () => {
		expect(provider.resolveSize({ width: 1600, aspectRatio: '16:9' })).toEqual({ width: 1600, height: 904, aspectRatio: '16:9' });
		expect(provider.resolveSize({ height: 512 })).toEqual({ width: 512, height: 512, aspectRatio: '1:1' });
	});

	it('answers with a message for sizes that are not numbers', () => {
		expect(typeof provider.resolveSize({ width: Number.NaN, height: 512 })).toBe('string');
		expect(typeof provider.resolveSize({ width: 512, height: Number.POSITIVE_INFINITY })).toBe('string');
	});
});

describe('PreviewProvider.textToImage', () => {
	it('renders a real PNG of exactly the asked size with the preview fields set', async () => {
		for (const asked of [{ width: 512, height: 768 }, { width: 64, height: 64 }, { aspectRatio: '21:9' as const }, {}]) {
			const dims = size(asked);
			const result = image(await textToImage({ size: dims, stylePreset: 'anime' }));
			expect(result).toMatchObject({
				mimeType: 'image/png',
				provider: 'preview',
				model: 'preview',
				preview: true,
				seed: 1234,
				width: dims.width,
				height: dims.height
			});
			const png = await decoded(result.data);
			expect(png).toMatchObject({ format: 'png', width: dims.width, height: dims.height });
			expect(png.exif).toBeUndefined();
			expect(png.icc).toBeUndefined();
			expect(png.xmp).toBeUndefined();
		}
	});

	it('is deterministic: the same request and seed give the same bytes; another seed or prompt does not', async () => {
		const first = image(await textToImage({ seed: 42, stylePreset: 'cinematic' }));
		const again = image(await textToImage({ seed: 42, stylePreset: 'cinematic' }));
		const otherSeed = image(await textToImage({ seed: 43, stylePreset: 'cinematic' }));
		const otherPrompt = image(await textToImage({ seed: 42, stylePreset: 'cinematic', prompt: 'a lighthouse at dawn' }));
		expect(again.data.equals(first.data)).toBe(true);
		expect(otherSeed.data.equals(first.data)).toBe(false);
		expect(otherPrompt.data.equals(first.data)).toBe(false);
	});

	it('derives the background colours from the seed', async () => {
		const corner = async (seed: number) => {
			const result = image(await textToImage({ seed, size: size({ width: 256, height: 256 }) }));
			const { data } = await sharp(result.data)
				.extract({ left: 250, top: 200, width: 1, height: 1 })
				.raw()
				.toBuffer({ resolveWithObject: true });
			return [...data];
		};
		expect(await corner(7)).toEqual(await corner(7));
		expect(await corner(7)).not.toEqual(await corner(8));
	});

	it('seed 0 (or none) picks a random seed in 1..MAX_SEED and reports it; that seed reproduces the image', async () => {
		const seeds = new Set<number>();
		for (let i = 0; i < 3; i++) {
			const result = image(await textToImage({ seed: 0, size: size({ width: 128, height: 128 }) }));
			expect(Number.isInteger(result.seed)).toBe(true);
			expect(result.seed).toBeGreaterThanOrEqual(1);
			expect(result.seed).toBeLessThanOrEqual(MAX_SEED);
			seeds.add(result.seed);
			const replay = image(await textToImage({ seed: result.seed, size: size({ width: 128, height: 128 }) }));
			expect(replay.data.equals(result.data)).toBe(true);
		}
		expect(seeds.size).toBeGreaterThan(1);
		const highest = image(await textToImage({ seed: MAX_SEED, size: size({ width: 64, height: 64 }) }));
		expect(highest.seed).toBe(MAX_SEED);
	});

	it('refuses a seed out of range', async () => {
		for (const seed of [-1, 1.5, MAX_SEED + 1]) {
			const result = await textToImage({ seed });
			expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		}
	});

	it('renders hostile prompt text: markup, entities, emoji, RTL, control characters, lone surrogates', async () => {
		const prompts = [
			'</svg><script>alert(1)</script><svg onload="x">',
			'Tom & Jerry &amp; &lt; &#x3C; &unknown; <![CDATA[ ]]> <!-- --> <?xml?>',
			`it's "quoted" 'twice' \`back\``,
			'🦊🔥👩‍👩‍👧‍👦 🇫🇷 ❤️ flags and families',
			'שלום עולם مرحبا بالعالم \u202Ereversed\u202C mixed',
			'control \u0000\u0001\u0007\u001B\u007F\u0085 chars \uD800 lone \uDC00 surrogates \uFFFE\uFFFF',
			'a'.repeat(5000),
			'日本語のテキストは空白なしで長く続くことがあります'.repeat(40)
		];
		for (const prompt of prompts) {
			const result = image(await textToImage({ prompt, size: size({ width: 512, height: 512 }) }));
			expect(await decoded(result.data)).toMatchObject({ format: 'png', width: 512, height: 512 });
		}
	});

	it('renders a 10,000-character prompt quickly', async () => {
		const words = ['castle', 'dragon', '&', '<b>', 'ünïcödé', '🐉', 'مرحبا', 'λόγος'];
		let prompt = '';
		for (let i = 0; prompt.length < 10_000; i++) prompt += `${words[i % words.length]} `;
		prompt = prompt.slice(0, 10_000);
		expect(prompt).toHaveLength(10_000);
		const result = image(await textToImage({ prompt }));
		expect(await decoded(result.data)).toMatchObject({ format: 'png', width: 1024, height: 1024 });
	});

	it('calls onStarted and honours an aborted signal', async () => {
		let started = 0;
		const ok = await provider.textToImage({ prompt: 'x', size: size({ width: 64, height: 64 }), seed: 1 }, { onStarted: () => started++ });
		expect(ok.ok).toBe(true);
		expect(started).toBe(1);
		const controller = new AbortController();
		controller.abort();
		const result = await provider.textToImage({ prompt: 'x', size: size(), seed: 1 }, { signal: controller.signal });
		expect(result).toEqual({ ok: false, reason: 'TIMEOUT', message: generationMessages.cancelled });
	});
});

describe('PreviewProvider.imageToImage', () => {
	it('keeps the input size and visibly derives from the input', async () => {
		const red = await inputPng(640, 400, '#e01010');
		const blue = await inputPng(640, 400, '#1010e0');
		const request = { prompt: '</svg> & 🎨 paint it', seed: 99, strength: 0.35 };
		const fromRed = image(await provider.imageToImage({ ...request, image: { data: red, width: 640, height: 400 } }, {}));
		const fromBlue = image(await provider.imageToImage({ ...request, image: { data: blue, width: 640, height: 400 } }, {}));
		expect(fromRed).toMatchObject({ width: 640, height: 400, preview: true, provider: 'preview', model: 'preview', seed: 99 });
		expect(await decoded(fromRed.data)).toMatchObject({ format: 'png', width: 640, height: 400 });
		// The input shows through: a red input gives a redder result than a blue one, at the same spot.
		const pixel = async (data: Buffer) => [...(await sharp(data).extract({ left: 600, top: 300, width: 1, height: 1 }).raw().toBuffer())];
		const [redR = 0, , redB = 0] = await pixel(fromRed.data);
		const [blueR = 0, , blueB = 0] = await pixel(fromBlue.data);
		expect(redR).toBeGreaterThan(blueR + 40);
		expect(blueB).toBeGreaterThan(redB + 40);
		// ...and it is not the input unchanged.
		expect(fromRed.data.equals(red)).toBe(false);
	});

	it('uses the input’s real size, is deterministic, and accepts an input with transparency', async () => {
		const input = await sharp({ create: { width: 333, height: 77, channels: 4, background: { r: 0, g: 200, b: 0, alpha: 0.3 } } })
			.png()
			.toBuffer();
		const request = { prompt: 'x', seed: 5, strength: 0.8, image: { data: input, width: 333, height: 77 } };
		const first = image(await provider.imageToImage(request, {}));
		const second = image(await provider.imageToImage(request, {}));
		expect(await decoded(first.data)).toMatchObject({ width: 333, height: 77 });
		expect(first.data.equals(second.data)).toBe(true);
	});

	it('seed 0 reports a random seed; unreadable input and an aborted signal fail as values', async () => {
		const input = await inputPng(64, 64);
		const random = image(
			await provider.imageToImage({ prompt: 'x', seed: 0, strength: 0.5, image: { data: input, width: 64, height: 64 } }, {})
		);
		expect(random.seed).toBeGreaterThanOrEqual(1);
		const garbage = await provider.imageToImage(
			{ prompt: 'x', seed: 1, strength: 0.5, image: { data: Buffer.from('not a png'), width: 64, height: 64 } },
			{}
		);
		expect(garbage).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		const controller = new AbortController();
		controller.abort();
		const aborted = await provider.imageToImage(
			{ prompt: 'x', seed: 1, strength: 0.5, image: { data: input, width: 64, height: 64 } },
			{ signal: controller.signal }
		);
		expect(aborted).toEqual({ ok: false, reason: 'TIMEOUT', message: generationMessages.cancelled });
	});
});

describe('PreviewProvider.upscale', () => {
	it('gives exactly the asked size, labelled, as a preview', async () => {
		const input = await inputPng(300, 200, '#808000');
		for (const [width, height] of [
			[1200, 800],
			[601, 401],
			[300, 200],
			[64, 32]
		] as const) {
			const result = image(await provider.upscale({ image: { data: input, width: 300, height: 200 }, width, height }, {}));
			expect(result).toMatchObject({ width, height, preview: true, provider: 'preview', model: 'preview', mimeType: 'image/png' });
			expect(await decoded(result.data)).toMatchObject({ format: 'png', width, height });
		}
	});

	it('keeps the picture (away from the label) and adds the label in a corner', async () => {
		const input = await inputPng(100, 100, '#00ff00');
		const result = image(await provider.upscale({ image: { data: input, width: 100, height: 100 }, width: 400, height: 400 }, {}));
		const at = async (left: number, top: number) => [
			...(await sharp(result.data).extract({ left, top, width: 1, height: 1 }).raw().toBuffer())
		];
		expect(await at(300, 300)).toEqual([0, 255, 0]);
		expect(await at(1, 1)).not.toEqual([0, 255, 0]);
	});

	it('refuses an impossible size, and honours an aborted signal', async () => {
		const input = await inputPng(64, 64);
		const tooBig = await provider.upscale({ image: { data: input, width: 64, height: 64 }, width: 20_000, height: 20_000 }, {});
		expect(tooBig).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
		const controller = new AbortController();
		controller.abort();
		const aborted = await provider.upscale(
			{ image: { data: input, width: 64, height: 64 }, width: 128, height: 128 },
			{ signal: controller.signal }
		);
		expect(aborted).toEqual({ ok: false, reason: 'TIMEOUT', message: generationMessages.cancelled });
	});
});

describe('preview text helpers', () => {
	it('xmlText escapes markup and removes what XML forbids', () => {
		expect(xmlText(`</svg><script>&"'`)).toBe('&lt;/svg&gt;&lt;script&gt;&amp;&quot;&apos;');
		expect(xmlText('a\u0000b\u001Bc\uD800d\uDC00e\uFFFF')).toBe('abcde');
		expect(xmlText('🦊 שלום')).toBe('🦊 שלום');
		expect(xmlText('a\n\tb')).toBe('a b');
	});

	it('wrapText wraps at spaces, splits long words between graphemes, and marks a cut with …', () => {
		expect(wrapText('one two three four', 9, 5)).toEqual(['one two', 'three', 'four']);
		expect(wrapText('abcdefghij', 4, 5)).toEqual(['abcd', 'efgh', 'ij']);
		const cut = wrapText('word '.repeat(100), 10, 2);
		expect(cut).toHaveLength(2);
		expect(cut[1]?.endsWith('…')).toBe(true);
		// Emoji (with joiners) and flags are never split into broken halves.
		const emoji = wrapText('👩‍👩‍👧‍👦🇫🇷'.repeat(10), 4, 10);
		for (const line of emoji) expect(line).toMatch(/^(👩‍👩‍👧‍👦|🇫🇷)+…?$/u);
	});
});
