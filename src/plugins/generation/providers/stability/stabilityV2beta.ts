import sharp from 'sharp';
import { FormData } from 'undici';
import type { GenerationResult } from '../../GenerationResult.js';
import { runImageWork } from '../../imageWork.js';
import {
	nearestAspectRatio,
	type AspectRatio,
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

/** Stability refuses requests over 10 MiB; leave room for the other fields and the multipart framing. */
const MAX_IMAGE_PART_BYTES = 9 * 1024 * 1024;

/** v2beta stable-image: core, ultra and sd3 generate, upscale/fast upscales. It works in aspect ratios, not pixels. */
export class StabilityV2beta {
	public readonly model: string;
	public readonly limits: ProviderLimits = {
		maxPromptLength: 10_000,
		// 4 MP as PNG stays under 10 MiB for most images; a larger one is sent as JPEG (see imagePart).
		input: { minSide: 64, maxSide: 16_384, maxPixels: 4_194_304 },
		upscaleInput: { minSide: 32, maxSide: 1536, maxPixels: 1_048_576 },
		// upscale/fast returns 4x, at most 16 MP.
		maxOutputPixels: 16_777_216
	};
	readonly #options: StabilityProviderOptions;
	readonly #client: StabilityClient;

	public constructor(options: StabilityProviderOptions, client: StabilityClient) {
		this.#options = options;
		this.#client = client;
		this.model = v2Model(options.model, options.sd3Model);
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		const bad = badSides(asked.width, asked.height);
		if (bad) return bad;
		const w = asked.width ?? asked.height;
		const h = asked.height ?? asked.width;
		// The ratio wins over a width and height.
		const ratio = asked.aspectRatio ?? (w !== undefined && h !== undefined ? nearestAspectRatio(w, h) : '1:1');
		return { ...NOMINAL_SIZES[ratio], aspectRatio: ratio };
	}

	public textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		const endpoint = this.#options.model;
		return this.#client.generate({
			path: `/v2beta/stable-image/generate/${endpoint}`,
			body: () => {
				const form = v2Form(request);
				form.append('aspect_ratio', request.size.aspectRatio);
				if (endpoint === 'sd3') appendSd3(form, this.#options.sd3Model, 'text-to-image', request.cfgScale);
				return form;
			},
			model: v2Model(endpoint, this.#options.sd3Model),
			requestedSeed: request.seed,
			headersTimeoutMs: this.#options.http.generateTimeoutMs,
			call
		});
	}

	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		// Core takes no input image: ultra does, and sd3 does for everything else.
		const endpoint = this.#options.model === 'ultra' ? 'ultra' : 'sd3';
		const image = await imagePart(request.image.data);
		return this.#client.generate({
			path: `/v2beta/stable-image/generate/${endpoint}`,
			body: () => {
				const form = v2Form(request);
				form.append('image', image.blob, image.filename);
				form.append('strength', String(request.strength));
				if (endpoint === 'sd3') appendSd3(form, this.#options.sd3Model, 'image-to-image', request.cfgScale);
				return form;
			},
			model: v2Model(endpoint, this.#options.sd3Model),
			requestedSeed: request.seed,
			headersTimeoutMs: this.#options.http.generateTimeoutMs,
			call
		});
	}

	/** upscale/fast's fixed 4x rarely lands on the size asked: ImageGenerator resizes to exactly that. */
	public upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		return this.#client.generate({
			path: '/v2beta/stable-image/upscale/fast',
			body: () => {
				const form = new FormData();
				form.append('image', pngBlob(request.image.data), 'image.png');
				form.append('output_format', 'png');
				return form;
			},
			model: 'stable-image-upscale-fast',
			requestedSeed: 0,
			headersTimeoutMs: this.#options.http.upscaleTimeoutMs,
			call
		});
	}
}

function v2Model(endpoint: 'core' | 'ultra' | 'sd3', sd3Model: string): string {
	return endpoint === 'sd3' ? sd3Model : `stable-image-${endpoint}`;
}

/** The fields every v2beta generate call shares. */
function v2Form(request: Omit<ProviderTextToImage, 'size'>): FormData {
	const form = new FormData();
	form.append('prompt', request.prompt);
	if (request.negativePrompt) form.append('negative_prompt', request.negativePrompt);
	if (request.seed > 0) form.append('seed', String(request.seed));
	if (request.stylePreset) form.append('style_preset', request.stylePreset);
	form.append('output_format', 'png');
	return form;
}

function appendSd3(form: FormData, model: string, mode: 'text-to-image' | 'image-to-image', cfgScale: number | undefined): void {
	form.append('model', model);
	form.append('mode', mode);
	// sd3's cfg_scale runs 1..10.
	if (cfgScale !== undefined) form.append('cfg_scale', String(clamp(cfgScale, 1, 10)));
}

/** The input as PNG, or as JPEG when the PNG would push the request over Stability's 10 MiB. */
async function imagePart(data: Buffer): Promise<{ blob: Blob; filename: string }> {
	if (data.length <= MAX_IMAGE_PART_BYTES) return { blob: pngBlob(data), filename: 'image.png' };
	const jpeg = await runImageWork(() =>
		sharp(data, { limitInputPixels: 100_000_000 }).flatten({ background: '#ffffff' }).jpeg({ quality: 92 }).toBuffer()
	);
	return { blob: new Blob([jpeg], { type: 'image/jpeg' }), filename: 'image.jpg' };
}
