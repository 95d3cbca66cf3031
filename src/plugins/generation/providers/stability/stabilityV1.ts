import { FormData } from 'undici';
import { generationFailure, type GenerationResult } from '../../GenerationResult.js';
import { resizeImage } from '../../imageData.js';
import {
	nearestAspectRatio,
	type AspectRatio,
	type DecodedImage,
	type Dimensions,
	type ProviderCall,
	type ProviderImageToImage,
	type ProviderLimits,
	type ProviderTextToImage,
	type ProviderUpscale
} from '../../requests.js';
import type { StabilityClient } from './StabilityClient.js';
import type { StabilityProviderOptions } from './StabilityProvider.js';
import { badSides, clamp, NOMINAL_SIZES, pngBlob } from './stabilityShared.js';

/** The only sizes SDXL 1.0 on v1 accepts. */
const SDXL_SIZES: readonly { width: number; height: number }[] = [
	[1024, 1024],
	[1152, 896],
	[1216, 832],
	[1344, 768],
	[1536, 640],
	[896, 1152],
	[832, 1216],
	[768, 1344],
	[640, 1536]
].map(([width, height]) => ({ width: width as number, height: height as number }));

/** v1 pixel bounds for non-SDXL engines (the 768 engines need more). */
const V1_MAX_PIXELS = 1_048_576;
const V1_MIN_PIXELS = 262_144;
const V1_768_MIN_PIXELS = 589_824;
/** esrgan's output cap. */
const V1_UPSCALE_MAX_PIXELS = 4_194_304;

/** The v1 engines API: an engine id for text- and image-to-image, esrgan for upscales. It works in pixels. */
export class StabilityV1 {
	public readonly model: string;
	public readonly limits: ProviderLimits = {
		maxPromptLength: 2000,
		// Resized to an engine size before sending: this box only bounds the work.
		input: { minSide: 128, maxSide: 2048, maxPixels: V1_MAX_PIXELS },
		// esrgan doubles each side by default; 1 MP in keeps the output under its 4 MP cap.
		upscaleInput: { minSide: 64, maxSide: 2048, maxPixels: 1_048_576 },
		maxOutputPixels: V1_UPSCALE_MAX_PIXELS
	};
	readonly #options: StabilityProviderOptions;
	readonly #client: StabilityClient;

	public constructor(options: StabilityProviderOptions, client: StabilityClient) {
		this.#options = options;
		this.#client = client;
		this.model = options.engine;
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		const bad = badSides(asked.width, asked.height);
		if (bad) return bad;
		const w = asked.width ?? asked.height;
		const h = asked.height ?? asked.width;
		// A width and height win over the ratio.
		const target = w !== undefined && h !== undefined ? { width: w, height: h } : NOMINAL_SIZES[asked.aspectRatio ?? '1:1'];
		const size = this.#isSdxl() ? nearestSdxlSize(target.width, target.height) : v1Size(target.width, target.height, this.#minPixels());
		return { ...size, aspectRatio: nearestAspectRatio(size.width, size.height) };
	}

	public async textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		const size = this.resolveSize({ width: request.size.width, height: request.size.height });
		if (typeof size === 'string') return generationFailure('INVALID_INPUT', size);
		const body = JSON.stringify({
			text_prompts: textPrompts(request.prompt, request.negativePrompt),
			cfg_scale: v1CfgScale(request.cfgScale),
			height: size.height,
			width: size.width,
			samples: 1,
			steps: v1Steps(request.steps),
			seed: request.seed,
			style_preset: request.stylePreset
		});
		return this.#client.generate({
			path: `/v1/generation/${encodeURIComponent(this.#options.engine)}/text-to-image`,
			body: () => body,
			headers: { 'Content-Type': 'application/json' },
			model: this.#options.engine,
			requestedSeed: request.seed,
			headersTimeoutMs: this.#options.http.generateTimeoutMs,
			call
		});
	}

	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		// Each engine accepts only some init_image sizes: resize to the nearest one it accepts.
		const size = this.resolveSize({ width: request.image.width, height: request.image.height });
		if (typeof size === 'string') return generationFailure('INVALID_INPUT', size);
		const image = await fitImage(request.image, size);
		const prompts = textPrompts(request.prompt, request.negativePrompt);
		return this.#client.generate({
			path: `/v1/generation/${encodeURIComponent(this.#options.engine)}/image-to-image`,
			body: () => {
				const form = new FormData();
				form.append('init_image', pngBlob(image), 'init_image.png');
				form.append('init_image_mode', 'IMAGE_STRENGTH');
				// v1's image_strength is how much of the input to keep: the opposite of our strength.
				form.append('image_strength', String(round3(1 - request.strength)));
				prompts.forEach((prompt, index) => {
					form.append(`text_prompts[${index}][text]`, prompt.text);
					form.append(`text_prompts[${index}][weight]`, String(prompt.weight));
				});
				form.append('cfg_scale', String(v1CfgScale(request.cfgScale)));
				form.append('samples', '1');
				form.append('steps', String(v1Steps(request.steps)));
				form.append('seed', String(request.seed));
				if (request.stylePreset) form.append('style_preset', request.stylePreset);
				return form;
			},
			model: this.#options.engine,
			requestedSeed: request.seed,
			headersTimeoutMs: this.#options.http.generateTimeoutMs,
			call
		});
	}

	/** esrgan doubles by default; a width asks for another size (at least 512, output at most 4 MP). ImageGenerator resizes to exactly the size asked. */
	public upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		const { image } = request;
		const maxWidth = Math.floor(Math.sqrt((V1_UPSCALE_MAX_PIXELS * image.width) / image.height));
		const width = Math.min(request.width, maxWidth);
		const sendWidth = width >= 512 && width !== image.width * 2 ? width : undefined;
		return this.#client.generate({
			path: `/v1/generation/${encodeURIComponent(this.#options.upscaleEngine)}/image-to-image/upscale`,
			body: () => {
				const form = new FormData();
				form.append('image', pngBlob(image.data), 'image.png');
				if (sendWidth !== undefined) form.append('width', String(sendWidth));
				return form;
			},
			model: this.#options.upscaleEngine,
			requestedSeed: 0,
			headersTimeoutMs: this.#options.http.upscaleTimeoutMs,
			call
		});
	}

	#isSdxl(): boolean {
		return this.#options.engine.includes('xl-1024');
	}

	#minPixels(): number {
		return this.#options.engine.includes('768') ? V1_768_MIN_PIXELS : V1_MIN_PIXELS;
	}
}

function textPrompts(prompt: string, negativePrompt: string | undefined): { text: string; weight: number }[] {
	return negativePrompt
		? [
				{ text: prompt, weight: 1 },
				{ text: negativePrompt, weight: -1 }
			]
		: [{ text: prompt, weight: 1 }];
}

/** v1 rejects cfg_scale outside 0..35 and steps outside 10..50; its defaults are 7 and 30. */
function v1CfgScale(value: number | undefined): number {
	return value === undefined ? 7 : clamp(value, 0, 35);
}

function v1Steps(value: number | undefined): number {
	return value === undefined ? 30 : Math.round(clamp(value, 10, 50));
}

function round3(value: number): number {
	return Math.round(value * 1000) / 1000;
}

async function fitImage(image: DecodedImage, size: { width: number; height: number }): Promise<Buffer> {
	return image.width === size.width && image.height === size.height ? image.data : resizeImage(image.data, size.width, size.height);
}

/** The SDXL size whose ratio is nearest (on a log scale) to width:height. */
function nearestSdxlSize(width: number, height: number): { width: number; height: number } {
	const target = Math.log(width / height);
	let best = SDXL_SIZES[0] as { width: number; height: number };
	for (const size of SDXL_SIZES) {
		if (Math.abs(Math.log(size.width / size.height) - target) < Math.abs(Math.log(best.width / best.height) - target)) best = size;
	}
	return best;
}

/**
 * A size the other v1 engines accept: sides multiples of 64 and at least 128, pixels within
 * [minPixels, 1 MP]. The ratio is kept within 21:9..9:21; the sides snap down to 64.
 */
function v1Size(width: number, height: number, minPixels: number): { width: number; height: number } {
	const limit = Math.log(21 / 9);
	const ratio = Math.exp(clamp(Math.log(width / height), -limit, limit));
	const area = clamp(width * height, minPixels, V1_MAX_PIXELS);
	const exactHeight = Math.sqrt(area / ratio);
	let w = Math.max(128, Math.floor((exactHeight * ratio) / 64) * 64);
	let h = Math.max(128, Math.floor(exactHeight / 64) * 64);
	// Snapping down may fall under the engine's minimum: grow the side that keeps the ratio closest.
	while (w * h < minPixels) {
		if (w / h < ratio) w += 64;
		else h += 64;
	}
	while (w * h > V1_MAX_PIXELS) {
		if (w / h > ratio) w -= 64;
		else h -= 64;
	}
	return { width: w, height: h };
}
