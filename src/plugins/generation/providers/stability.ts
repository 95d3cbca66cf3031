import sharp from 'sharp';
import { FormData } from 'undici';
import { generationFailure, generationMessages, type GenerationFailure, type GenerationResult } from '../GenerationResult.js';
import { HttpClient, type HttpOperation } from '../http/HttpClient.js';
import { inspectOutputImage, resizeImage } from '../imageData.js';
import { runImageWork } from '../imageWork.js';
import {
	nearestAspectRatio,
	type AspectRatio,
	type DecodedImage,
	type Dimensions,
	type ImageProvider,
	type ProviderCall,
	type ProviderImageToImage,
	type ProviderLimits,
	type ProviderProbe,
	type ProviderSupport,
	type ProviderTextToImage,
	type ProviderUpscale
} from '../requests.js';
import { failureFromResponse, withoutSecrets } from './httpFailures.js';
import { PROBE_TIMEOUT_MS, requestLimits, type ProviderHttpSettings } from './ProviderSettings.js';

export interface StabilityProviderOptions {
	apiKey: string;
	/** e.g. https://api.stability.ai; a path prefix (a proxy) is kept. */
	host: string;
	api: 'v2beta' | 'v1';
	/** v2beta text-to-image endpoint. */
	model: 'core' | 'ultra' | 'sd3';
	/** The `model` field of v2beta's sd3 endpoint (also used for image-to-image when `model` is core). */
	sd3Model: string;
	/** v1 engine id for text- and image-to-image. */
	engine: string;
	/** v1 engine id for upscales (esrgan-v1-x2plus). */
	upscaleEngine: string;
	/** Sent as stability-client-id. */
	clientId?: string;
	http: ProviderHttpSettings;
}

const LABEL = 'Stability AI';

/** v2beta's output for each aspect ratio (~1 MP; every side a multiple of 64, so v1 accepts them too). */
const NOMINAL_SIZES: Record<AspectRatio, { width: number; height: number }> = {
	'21:9': { width: 1536, height: 640 },
	'16:9': { width: 1344, height: 768 },
	'3:2': { width: 1216, height: 832 },
	'5:4': { width: 1088, height: 896 },
	'1:1': { width: 1024, height: 1024 },
	'4:5': { width: 896, height: 1088 },
	'2:3': { width: 832, height: 1216 },
	'9:16': { width: 768, height: 1344 },
	'9:21': { width: 640, height: 1536 }
};

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
/** Stability refuses requests over 10 MiB; leave room for the other fields and the multipart framing. */
const MAX_IMAGE_PART_BYTES = 9 * 1024 * 1024;

type Decoded = { ok: true; data: Buffer; width: number; height: number; mimeType: string; seed: number } | GenerationFailure;

/**
 * Stability AI: v2beta stable-image (core, ultra, sd3, upscale/fast) by default, or the v1 engines API.
 * Every answer is checked before it counts: a non-2xx goes through `failureFromResponse`, a filtered
 * finish reason (header or JSON field, whichever spelling the response carries) is CONTENT_FILTERED and
 * never delivered, and the bytes must be a whole image. The key is sent only in the Authorization header
 * and scrubbed from every message that leaves this class.
 */
export class StabilityProvider implements ImageProvider {
	public readonly name = 'stability' as const;
	public readonly model: string;
	public readonly limits: ProviderLimits;
	public readonly supports: ProviderSupport = { imageToImage: true, upscale: true };
	readonly #options: StabilityProviderOptions;
	readonly #http: HttpClient;
	readonly #prefix: string;

	public constructor(options: StabilityProviderOptions) {
		this.#options = options;
		const url = new URL(options.host);
		this.#prefix = url.pathname.replace(/\/+$/, '');
		this.#http = new HttpClient({ ...options.http, origin: url.origin, rateKey: options.apiKey });
		this.model = options.api === 'v1' ? options.engine : v2Model(options.model, options.sd3Model);
		this.limits =
			options.api === 'v1'
				? {
						maxPromptLength: 2000,
						// Resized to an engine size before sending: this box only bounds the work.
						input: { minSide: 128, maxSide: 2048, maxPixels: V1_MAX_PIXELS },
						// esrgan doubles each side by default; 1 MP in keeps the output under its 4 MP cap.
						upscaleInput: { minSide: 64, maxSide: 2048, maxPixels: 1_048_576 },
						maxOutputPixels: V1_UPSCALE_MAX_PIXELS
					}
				: {
						maxPromptLength: 10_000,
						// 4 MP as PNG stays under 10 MiB for most images; a larger one is sent as JPEG (see imagePart).
						input: { minSide: 64, maxSide: 16_384, maxPixels: 4_194_304 },
						upscaleInput: { minSide: 32, maxSide: 1536, maxPixels: 1_048_576 },
						// upscale/fast returns 4x, at most 16 MP.
						maxOutputPixels: 16_777_216
					};
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		const { width, height } = asked;
		for (const value of [width, height]) {
			if (value !== undefined && !(Number.isFinite(value) && value > 0)) return 'The width and height must be positive numbers of pixels.';
		}
		const w = width ?? height;
		const h = height ?? width;
		if (this.#options.api === 'v2beta') {
			// v2beta works in ratios: the ratio wins over a width and height.
			const ratio = asked.aspectRatio ?? (w !== undefined && h !== undefined ? nearestAspectRatio(w, h) : '1:1');
			return { ...NOMINAL_SIZES[ratio], aspectRatio: ratio };
		}
		// v1 works in pixels: a width and height win over the ratio.
		const target = w !== undefined && h !== undefined ? { width: w, height: h } : NOMINAL_SIZES[asked.aspectRatio ?? '1:1'];
		const size = this.#isSdxl() ? nearestSdxlSize(target.width, target.height) : v1Size(target.width, target.height, this.#v1MinPixels());
		return { ...size, aspectRatio: nearestAspectRatio(size.width, size.height) };
	}

	public async textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		if (this.#options.api === 'v1') {
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
			return this.#run(
				`/v1/generation/${encodeURIComponent(this.#options.engine)}/text-to-image`,
				() => body,
				{ 'Content-Type': 'application/json' },
				this.#options.engine,
				request.seed,
				this.#options.http.generateTimeoutMs,
				call
			);
		}
		const endpoint = this.#options.model;
		const model = v2Model(endpoint, this.#options.sd3Model);
		return this.#run(
			`/v2beta/stable-image/generate/${endpoint}`,
			() => {
				const form = v2Form(request);
				form.append('aspect_ratio', request.size.aspectRatio);
				if (endpoint === 'sd3') appendSd3(form, this.#options.sd3Model, 'text-to-image', request.cfgScale);
				return form;
			},
			{},
			model,
			request.seed,
			this.#options.http.generateTimeoutMs,
			call
		);
	}

	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		if (this.#options.api === 'v1') {
			// Each engine accepts only some init_image sizes: resize to the nearest one it accepts.
			const size = this.resolveSize({ width: request.image.width, height: request.image.height });
			if (typeof size === 'string') return generationFailure('INVALID_INPUT', size);
			const image = await fitImage(request.image, size);
			const prompts = textPrompts(request.prompt, request.negativePrompt);
			return this.#run(
				`/v1/generation/${encodeURIComponent(this.#options.engine)}/image-to-image`,
				() => {
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
				{},
				this.#options.engine,
				request.seed,
				this.#options.http.generateTimeoutMs,
				call
			);
		}
		// Core takes no input image: ultra does, and sd3 does for everything else.
		const endpoint = this.#options.model === 'ultra' ? 'ultra' : 'sd3';
		const image = await imagePart(request.image.data);
		return this.#run(
			`/v2beta/stable-image/generate/${endpoint}`,
			() => {
				const form = v2Form(request);
				form.append('image', image.blob, image.filename);
				form.append('strength', String(request.strength));
				if (endpoint === 'sd3') appendSd3(form, this.#options.sd3Model, 'image-to-image', request.cfgScale);
				return form;
			},
			{},
			v2Model(endpoint, this.#options.sd3Model),
			request.seed,
			this.#options.http.generateTimeoutMs,
			call
		);
	}

	public async upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		const { image } = request;
		let result: GenerationResult;
		if (this.#options.api === 'v1') {
			// esrgan doubles by default; a width asks for another size (at least 512, output at most 4 MP).
			const maxWidth = Math.floor(Math.sqrt((V1_UPSCALE_MAX_PIXELS * image.width) / image.height));
			const width = Math.min(request.width, maxWidth);
			const sendWidth = width >= 512 && width !== image.width * 2 ? width : undefined;
			result = await this.#run(
				`/v1/generation/${encodeURIComponent(this.#options.upscaleEngine)}/image-to-image/upscale`,
				() => {
					const form = new FormData();
					form.append('image', pngBlob(image.data), 'image.png');
					if (sendWidth !== undefined) form.append('width', String(sendWidth));
					return form;
				},
				{},
				this.#options.upscaleEngine,
				0,
				this.#options.http.upscaleTimeoutMs,
				call
			);
		} else {
			result = await this.#run(
				'/v2beta/stable-image/upscale/fast',
				() => {
					const form = new FormData();
					form.append('image', pngBlob(image.data), 'image.png');
					form.append('output_format', 'png');
					return form;
				},
				{},
				'stable-image-upscale-fast',
				0,
				this.#options.http.upscaleTimeoutMs,
				call
			);
		}
		// The fixed factor (4x fast, 2x esrgan) rarely lands on the size asked: ImageGenerator resizes to exactly that.
		return result;
	}

	/**
	 * `GET /v1/user/balance`: authenticated, free, and it says how many credits are left. It serves every key,
	 * whichever API (v1 or v2beta) the generations use.
	 */
	public async probe(call: ProviderCall): Promise<ProviderProbe> {
		const outcome = await this.#http.request({
			method: 'GET',
			path: `${this.#prefix}/v1/user/balance`,
			headers: { ...this.#headers(), Accept: 'application/json' },
			...requestLimits(this.#options.http, PROBE_TIMEOUT_MS, call)
		});
		if (!outcome.ok) return this.#scrub(outcome.failure);
		const { response } = outcome;
		if (response.status === 404) {
			return generationFailure('PROVIDER_ERROR', `${LABEL} has no account endpoint at this address: API_HOST is not Stability's API.`);
		}
		if (response.status !== 200) return this.#scrub(failureFromResponse(response, LABEL));
		const credits = balanceOf(response.body);
		if (credits === undefined) {
			return generationFailure('PROVIDER_ERROR', `${LABEL} answered the balance request with something else than a balance.`);
		}
		return { ok: true, detail: `key accepted; ${formatCredits(credits)} credits left`, credits };
	}

	public async close(): Promise<void> {
		await this.#http.close();
	}

	async #run(
		path: string,
		body: NonNullable<HttpOperation['body']>,
		headers: Record<string, string>,
		model: string,
		requestedSeed: number,
		headersTimeoutMs: number,
		call: ProviderCall
	): Promise<GenerationResult> {
		const settings = this.#options.http;
		const outcome = await this.#http.request({
			method: 'POST',
			path: this.#prefix + path,
			headers: { ...this.#headers(), ...headers },
			body,
			...requestLimits(settings, headersTimeoutMs, call)
		});
		if (!outcome.ok) return this.#scrub(outcome.failure);
		const { response } = outcome;
		if (response.status !== 200) return this.#scrub(failureFromResponse(response, LABEL));
		const decoded = await decodeResponse(response.body, response.headers, requestedSeed);
		if (!decoded.ok) return decoded;
		const { data, width, height, mimeType, seed } = decoded;
		return { ok: true, image: { data, width, height, mimeType, seed, provider: 'stability', model, preview: false } };
	}

	#headers(): Record<string, string> {
		const headers: Record<string, string> = {
			Authorization: `Bearer ${this.#options.apiKey}`,
			// v1 answers image/png or JSON; v2beta picks the format from output_format.
			Accept: this.#options.api === 'v1' ? 'image/png' : 'image/*'
		};
		if (this.#options.clientId) headers['stability-client-id'] = this.#options.clientId.slice(0, 256);
		return headers;
	}

	/** The provider's error text is passed on for 400/422: make sure it never carries our key back. */
	#scrub(failure: GenerationFailure): GenerationFailure {
		return withoutSecrets(failure, [this.#options.apiKey]);
	}

	#isSdxl(): boolean {
		return this.#options.engine.includes('xl-1024');
	}

	#v1MinPixels(): number {
		return this.#options.engine.includes('768') ? V1_768_MIN_PIXELS : V1_MIN_PIXELS;
	}
}

/** `{ "credits": 12.5 }`, or undefined for anything else. */
function balanceOf(body: Buffer): number | undefined {
	try {
		const parsed = JSON.parse(body.toString('utf8')) as { credits?: unknown } | null;
		return typeof parsed?.credits === 'number' && Number.isFinite(parsed.credits) ? parsed.credits : undefined;
	} catch {
		return undefined;
	}
}

function formatCredits(credits: number): string {
	return (Math.floor(credits * 100) / 100).toString();
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

function clamp(value: number, min: number, max: number): number {
	return Math.min(max, Math.max(min, value));
}

function round3(value: number): number {
	return Math.round(value * 1000) / 1000;
}

function pngBlob(data: Buffer): Blob {
	return new Blob([data], { type: 'image/png' });
}

/** The input as PNG, or as JPEG when the PNG would push the request over Stability's 10 MiB. */
async function imagePart(data: Buffer): Promise<{ blob: Blob; filename: string }> {
	if (data.length <= MAX_IMAGE_PART_BYTES) return { blob: pngBlob(data), filename: 'image.png' };
	const jpeg = await runImageWork(() =>
		sharp(data, { limitInputPixels: 100_000_000 }).flatten({ background: '#ffffff' }).jpeg({ quality: 92 }).toBuffer()
	);
	return { blob: new Blob([jpeg], { type: 'image/jpeg' }), filename: 'image.jpg' };
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

/** Bytes (with finish-reason and seed headers) or JSON (v2beta `{ image, finish_reason, seed }`, v1 `{ artifacts: [...] }`). */
async function decodeResponse(body: Buffer, headers: Record<string, string | undefined>, requestedSeed: number): Promise<Decoded> {
	let data: Buffer;
	/** SUCCESS | CONTENT_FILTERED | ERROR (v1), or absent. */
	let finish: string | undefined = headers['finish-reason'];
	let seed: unknown = headers['seed'];
	if ((headers['content-type'] ?? '').toLowerCase().includes('application/json')) {
		const artifact = jsonArtifact(body);
		if (!artifact) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		finish = artifact.finish ?? finish;
		seed = artifact.seed ?? seed;
		if (finish === 'CONTENT_FILTERED') return generationFailure('CONTENT_FILTERED', generationMessages.contentFiltered);
		if (!artifact.base64) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		data = Buffer.from(artifact.base64, 'base64');
	} else {
		data = body;
	}
	if (finish === 'CONTENT_FILTERED') return generationFailure('CONTENT_FILTERED', generationMessages.contentFiltered);
	// ERROR, or a reason this code does not know: never deliver an image the provider did not call a success.
	if (finish !== undefined && finish !== 'SUCCESS') return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
	const output = await inspectOutputImage(data);
	if (!output) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
	const parsedSeed = Number(seed);
	return {
		ok: true,
		data,
		...output,
		seed: seed !== undefined && seed !== '' && Number.isSafeInteger(parsedSeed) && parsedSeed >= 0 ? parsedSeed : requestedSeed
	};
}

function jsonArtifact(body: Buffer): { base64?: string; finish?: string; seed?: unknown } | null {
	let parsed: unknown;
	try {
		parsed = JSON.parse(body.toString('utf8'));
	} catch {
		return null;
	}
	const container = parsed as { artifacts?: unknown } | null;
	// v1 wraps artifacts in an object (its yaml says a bare array: accept both); v2beta answers one object.
	const item: unknown = Array.isArray(container?.artifacts) ? container.artifacts[0] : Array.isArray(parsed) ? parsed[0] : parsed;
	if (!item || typeof item !== 'object') return null;
	const fields = item as Record<string, unknown>;
	const base64 = typeof fields.image === 'string' ? fields.image : typeof fields.base64 === 'string' ? fields.base64 : undefined;
	const finish = [fields.finish_reason, fields.finishReason].find((value): value is string => typeof value === 'string');
	return { base64, finish, seed: fields.seed };
}
