import { generationFailure, generationMessages, type GenerationFailure, type GenerationResult } from '../GenerationResult.js';
import { HttpClient, type HttpResponse } from '../http/HttpClient.js';
import { parseJsonBody } from '../http/jsonBody.js';
import { inspectOutputImage } from '../imageData.js';
import {
	type AspectRatio,
	type Dimensions,
	type ImageProvider,
	type ProviderCall,
	type ProviderImageToImage,
	type ProviderLimits,
	type ProviderSupport,
	type ProviderProbe,
	type ProviderTextToImage,
	type ProviderUpscale
} from '../requests.js';
import { failureFromResponse, withoutSecrets } from './httpFailures.js';
import { promptWithStyle } from './promptStyle.js';
import { sdDefaultSide, SD_MAX_SIDE, SD_MIN_SIDE, SD_SERVER_LIMITS, snapSide, stableDiffusionSize } from './stableDiffusionSize.js';
import { PROBE_TIMEOUT_MS, requestLimits, type ProviderHttpSettings } from './ProviderSettings.js';

/**
 * AUTOMATIC1111's stable-diffusion-webui (started with `--api`), usually on the owner's own GPU.
 *
 * - Sizes: see `stableDiffusionSize` (multiples of 8, 64..2048 px a side). With nothing asked the image is
 *   `defaultSide` square (512, SD 1.5's native size; set 1024 for SDXL checkpoints).
 * - Styles: the webui has no style presets (its `styles` field names the owner's saved prompt styles), so a
 *   preset is folded into the prompt as a short suffix (`promptWithStyle`).
 * - Prompt length: the webui has no hard cap (long prompts are split into 75-token chunks); 10,000 characters
 *   keeps requests and logs sane.
 * - Time-outs: a generation on a local GPU can take minutes, so it gets `generateTimeoutMs` (300 s by
 *   default) for its headers. A reverse proxy in front of the webui usually kills a request after 60..100 s
 *   (Cloudflare answers 524): such a set-up needs a longer proxy time-out, not a longer one here.
 */
export interface Automatic1111ProviderOptions {
	/** The web UI's address, e.g. http://127.0.0.1:7860 (a path prefix is kept, for a UI behind a proxy). */
	host: string;
	/** For a web UI started with `--api-auth user:password`: HTTP Basic on every request. */
	username?: string;
	password?: string;
	/** `sampler_name`; the web UI's default when absent. */
	sampler?: string;
	/** Steps when the request names none. */
	steps: number;
	/** `upscaler_1` of /sdapi/v1/extra-single-image, e.g. 'R-ESRGAN 4x+'. */
	upscaler: string;
	http: ProviderHttpSettings;
	/** Side of the square made when no size is asked (default 512; 1024 suits SDXL checkpoints). */
	defaultSide?: number;
}

/** What /sdapi/v1/progress says about the job running now (progress 0 and jobCount 0 when idle). */
export interface Automatic1111Progress {
	/** 0..1 of the current job. */
	progress: number;
	/** The web UI's estimate of the seconds left (its `eta_relative`); 0 when unknown. */
	etaSeconds: number;
	state: {
		job: string;
		jobCount: number;
		jobNo: number;
		samplingStep: number;
		samplingSteps: number;
		interrupted: boolean;
		skipped: boolean;
	};
}

const LABEL = 'The Stable Diffusion server';
const SIZE_MESSAGE = `Stable Diffusion (AUTOMATIC1111) makes images from ${SD_MIN_SIDE} to ${SD_MAX_SIDE} px a side.`;

type Decoded = { ok: true; data: Buffer; info: unknown } | GenerationFailure;

export class Automatic1111Provider implements ImageProvider {
	public readonly name = 'automatic1111' as const;
	public readonly model = 'stable-diffusion-webui';
	public readonly supports: ProviderSupport = { imageToImage: true, upscale: true };
	public readonly limits: ProviderLimits = SD_SERVER_LIMITS;

	readonly #options: Automatic1111ProviderOptions;
	readonly #http: HttpClient;
	readonly #basePath: string;
	readonly #authorization: string | undefined;
	/** Strings that must never reach a message: the password and the encoded credentials. */
	readonly #secrets: string[];
	readonly #defaultSide: number;
	#closing: Promise<void> | undefined;

	public constructor(options: Automatic1111ProviderOptions) {
		this.#options = options;
		const endpoint = parseHost(options.host);
		this.#basePath = endpoint.basePath;
		const username = options.username ?? endpoint.username;
		const password = options.password ?? endpoint.password;
		const credentials = username !== undefined || password !== undefined ? `${username ?? ''}:${password ?? ''}` : undefined;
		const encoded = credentials === undefined ? undefined : Buffer.from(credentials, 'utf8').toString('base64');
		this.#authorization = encoded === undefined ? undefined : `Basic ${encoded}`;
		this.#secrets = [password, encoded].filter((secret): secret is string => typeof secret === 'string' && secret.length > 0);
		this.#defaultSide = sdDefaultSide(options.defaultSide);
		const { http } = options;
		this.#http = new HttpClient({
			origin: endpoint.origin,
			maxConcurrent: http.maxConcurrent,
			maxPerWindow: http.maxPerWindow,
			windowMs: http.windowMs,
			maxRetries: http.maxRetries,
			retryBaseDelayMs: http.retryBaseDelayMs,
			maxRateLimitRetries: http.maxRateLimitRetries,
			maxRateLimitWaitMs: http.maxRateLimitWaitMs,
			defaultRateLimitWaitMs: http.defaultRateLimitWaitMs
		});
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		return stableDiffusionSize(asked, this.#defaultSide, SIZE_MESSAGE);
	}

	public async textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		const payload = JSON.stringify({
			...this.#common(request),
			width: request.size.width,
			height: request.size.height
		});
		return this.#generate('/sdapi/v1/txt2img', payload, request.seed, call);
	}

	/** Width and height are the input's, rounded to multiples of 8; the result has the size the web UI made. */
	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		const payload = JSON.stringify({
			...this.#common(request),
			init_images: [request.image.data.toString('base64')],
			denoising_strength: Math.min(1, Math.max(0, request.strength)),
			width: snapSide(request.image.width, 8),
			height: snapSide(request.image.height, 8)
		});
		return this.#generate('/sdapi/v1/img2img', payload, request.seed, call);
	}

	/** Always 2x on the web UI (`upscaling_resize: 2`), then resized to exactly the asked size when it differs. */
	public async upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		const payload = JSON.stringify({
			image: request.image.data.toString('base64'),
			upscaling_resize: 2,
			upscaler_1: this.#options.upscaler
		});
		const decoded = await this.#requestImage('/sdapi/v1/extra-single-image', payload, this.#options.http.upscaleTimeoutMs, call, 'image');
		if (!decoded.ok) return decoded;
		const output = await inspectOutputImage(decoded.data);
		if (!output) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		// The web UI's fixed 2x may differ from the size asked: ImageGenerator resizes to exactly that.
		return this.#success(decoded.data, output.mimeType, output.width, output.height, 0);
	}

	/**
	 * `GET /sdapi/v1/progress`: the lightest route of the API. It answers while a generation runs, needs the
	 * --api-auth credentials when the web UI has them (401 otherwise) and is 404 without --api.
	 */
	public async probe(call: ProviderCall): Promise<ProviderProbe> {
		const outcome = await this.#http.request({
			method: 'GET',
			path: `${this.#basePath}/sdapi/v1/progress?skip_current_image=true`,
			headers: this.#headers(false),
			...requestLimits(this.#options.http, PROBE_TIMEOUT_MS, call)
		});
		if (!outcome.ok) return this.#redact(outcome.failure);
		const { response } = outcome;
		if (response.status < 200 || response.status > 299) return this.#redact(this.#statusFailure(response));
		const progress = parseProgress(parseJsonBody(response.body));
		if (!progress) return generationFailure('PROVIDER_ERROR', `${LABEL} answered, but not as the web UI's API does: check API_HOST.`);
		const busy = progress.state.jobCount > 0 || progress.progress > 0;
		return { ok: true, detail: `the web UI's API answers (${busy ? 'generating now' : 'idle'})` };
	}

	/** Idempotent. */
	public close(): Promise<void> {
		this.#closing ??= this.#http.close();
		return this.#closing;
	}

	#common(request: Omit<ProviderTextToImage, 'size'>): Record<string, unknown> {
		const fields: Record<string, unknown> = {
			prompt: promptWithStyle(request.prompt, request.stylePreset),
			negative_prompt: request.negativePrompt ?? '',
			seed: request.seed === 0 ? -1 : request.seed,
			steps: request.steps ?? this.#options.steps,
			batch_size: 1,
			n_iter: 1
		};
		if (this.#options.sampler) fields.sampler_name = this.#options.sampler;
		if (request.cfgScale !== undefined) fields.cfg_scale = request.cfgScale;
		return fields;
	}

	async #generate(path: string, payload: string, requestedSeed: number, call: ProviderCall): Promise<GenerationResult> {
		const decoded = await this.#requestImage(path, payload, this.#options.http.generateTimeoutMs, call, 'images');
		if (!decoded.ok) return decoded;
		const output = await inspectOutputImage(decoded.data);
		if (!output) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		// `info` is a JSON string with the seed used; without it, the seed asked for (0: unknown).
		const seed = seedFromInfo(decoded.info) ?? requestedSeed;
		return this.#success(decoded.data, output.mimeType, output.width, output.height, seed);
	}

	/**
	 * Sends one request and returns the image bytes. The response body, its JSON text and the parsed object
	 * live only in this frame: the caller holds just the decoded image (base64 is decoded once).
	 */
	async #requestImage(
		path: string,
		payload: string,
		headersTimeoutMs: number,
		call: ProviderCall,
		field: 'images' | 'image'
	): Promise<Decoded> {
		const settings = this.#options.http;
		const outcome = await this.#http.request({
			method: 'POST',
			path: this.#basePath + path,
			headers: this.#headers(true),
			body: () => payload,
			...requestLimits(settings, headersTimeoutMs, call)
		});
		if (!outcome.ok) return this.#redact(outcome.failure);
		const { response } = outcome;
		if (response.status < 200 || response.status > 299) return this.#redact(this.#statusFailure(response));
		const parsed = parseJsonBody(response.body) as { images?: unknown; image?: unknown; info?: unknown } | undefined;
		if (!parsed || typeof parsed !== 'object') return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		const base64 = field === 'images' ? (Array.isArray(parsed.images) ? (parsed.images[0] as unknown) : undefined) : parsed.image;
		if (typeof base64 !== 'string' || base64.length === 0) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		return { ok: true, data: Buffer.from(stripDataUrl(base64), 'base64'), info: parsed.info };
	}

	#statusFailure(response: HttpResponse): GenerationFailure {
		// Without --api the web UI answers 404 on every /sdapi route.
		if (response.status === 404) {
			return generationFailure(
				'PROVIDER_ERROR',
				`${LABEL} has no API at this address. The bot owner has to check the host and start the web UI with --api.`
			);
		}
		// A proxy that gave up on a long generation (Cloudflare: 524).
		if (response.status === 408 || response.status === 524) return generationFailure('TIMEOUT', generationMessages.timeout);
		return failureFromResponse(response, LABEL);
	}

	/** The server's error text is passed on: make sure it never carries a credential back (a server echoing what it got). */
	#redact(failure: GenerationFailure): GenerationFailure {
		return withoutSecrets(failure, this.#secrets);
	}

	#headers(json: boolean): Record<string, string> {
		const headers: Record<string, string> = { accept: 'application/json' };
		if (json) headers['content-type'] = 'application/json';
		if (this.#authorization) headers.authorization = this.#authorization;
		return headers;
	}

	#success(data: Buffer, mimeType: string, width: number, height: number, seed: number): GenerationResult {
		return {
			ok: true,
			image: { data, mimeType, width, height, seed, provider: this.name, model: this.model, preview: false }
		};
	}
}

function parseHost(host: string): { origin: string; basePath: string; username?: string; password?: string } {
	let url: URL;
	try {
		url = new URL(host);
	} catch {
		// The host may carry credentials: do not repeat it.
		throw new TypeError('The AUTOMATIC1111 host must be a URL such as http://127.0.0.1:7860.');
	}
	if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('The AUTOMATIC1111 host must be an http or https URL.');
	return {
		origin: url.origin,
		basePath: url.pathname.replace(/\/+$/, ''),
		username: url.username ? decodeURIComponent(url.username) : undefined,
		password: url.password ? decodeURIComponent(url.password) : undefined
	};
}

function stripDataUrl(base64: string): string {
	// Some forks answer with a data URL rather than bare base64.
	if (!base64.startsWith('data:')) return base64;
	const comma = base64.indexOf(',');
	return comma === -1 ? base64 : base64.slice(comma + 1);
}

function isSeed(value: unknown): value is number {
	return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function seedFromInfo(info: unknown): number | undefined {
	let parsed = info;
	if (typeof info === 'string') {
		try {
			parsed = JSON.parse(info) as unknown;
		} catch {
			return undefined;
		}
	}
	if (!parsed || typeof parsed !== 'object') return undefined;
	const { seed, all_seeds: allSeeds } = parsed as { seed?: unknown; all_seeds?: unknown };
	if (isSeed(seed)) return seed;
	const first: unknown = Array.isArray(allSeeds) ? allSeeds[0] : undefined;
	return isSeed(first) ? first : undefined;
}

function finite(value: unknown, fallback = 0): number {
	return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function parseProgress(value: unknown): Automatic1111Progress | null {
	if (!value || typeof value !== 'object') return null;
	const raw = value as { progress?: unknown; eta_relative?: unknown; state?: unknown };
	if (typeof raw.progress !== 'number' || !Number.isFinite(raw.progress)) return null;
	const state = (raw.state && typeof raw.state === 'object' ? raw.state : {}) as Record<string, unknown>;
	return {
		progress: Math.min(1, Math.max(0, raw.progress)),
		etaSeconds: Math.max(0, finite(raw.eta_relative)),
		state: {
			job: typeof state.job === 'string' ? state.job : '',
			jobCount: finite(state.job_count),
			jobNo: finite(state.job_no),
			samplingStep: finite(state.sampling_step),
			samplingSteps: finite(state.sampling_steps),
			interrupted: state.interrupted === true,
			skipped: state.skipped === true
		}
	};
}
