import { FormData } from 'undici';
import {
	generationFailure,
	generationMessages,
	unsupportedFailure,
	type GenerationFailure,
	type GenerationResult,
	type ProviderUsage,
	type UnusedInput
} from '../../GenerationResult.js';
import { HttpClient, type HttpOperation } from '../../http/HttpClient.js';
import { parseJsonBody } from '../../http/jsonBody.js';
import { inspectOutputImage } from '../../imageData.js';
import type {
	AspectRatio,
	Dimensions,
	ImageProvider,
	ProviderCall,
	ProviderImageToImage,
	ProviderLimits,
	ProviderProbe,
	ProviderSupport,
	ProviderTextToImage,
	ProviderUpscale
} from '../../requests.js';
import { withoutSecrets } from '../httpFailures.js';
import { promptWithStyle } from '../promptStyle.js';
import { PROBE_TIMEOUT_MS, requestLimits, type ProviderHttpSettings } from '../ProviderSettings.js';
import { openAiFailure, openAiRateLimitWait } from './openaiErrors.js';
import { modelProfile, nearestModelSize, type ModelProfile } from './openaiModels.js';

export interface OpenAIProviderOptions {
	/** Sent as `Authorization: Bearer`; absent for a compatible server that needs none. */
	apiKey?: string;
	/** Includes the version path, as the official SDK's does: https://api.openai.com/v1 (a query string, e.g. Azure's api-version, is kept). */
	baseUrl: string;
	model: string;
	/** `quality`: low | medium | high | auto for gpt-image, standard | hd for dall-e-3; the API's default when absent. */
	quality?: string;
	http: ProviderHttpSettings;
}

/** What an image of the Images API answer carries: base64 (`b64_json`), or a URL we never fetch. */
interface ImagesAnswer {
	data?: { b64_json?: unknown; url?: unknown }[];
	usage?: Record<string, unknown>;
}

/**
 * The OpenAI Images API, and what speaks it (Azure OpenAI's v1 API, OpenAI-compatible local servers):
 * `POST /images/generations` (JSON) for text-to-image, `POST /images/edits` (multipart) for image-to-image.
 * There is no seed, no negative prompt and no strength: none is sent, and the result lists them in
 * `unusedInputs`. There is no upscale: `supports.upscale` is false, and a call answers UNSUPPORTED. Style
 * presets are folded into the prompt. The token usage the API reports is carried on the image (`usage`). A request
 * with `laxModeration` asks gpt-image models for `moderation: "low"` on generations (the edits endpoint documents no
 * such field, so an edit is sent as always).
 */
export class OpenAIProvider implements ImageProvider {
	public readonly name = 'openai' as const;
	public readonly model: string;
	public readonly supports: ProviderSupport;
	public readonly limits: ProviderLimits;
	readonly #options: OpenAIProviderOptions;
	readonly #profile: ModelProfile;
	readonly #http: HttpClient;
	readonly #path: { prefix: string; query: string };

	public constructor(options: OpenAIProviderOptions) {
		this.#options = options;
		const url = new URL(options.baseUrl);
		this.#path = { prefix: url.pathname.replace(/\/+$/, ''), query: url.search };
		this.#http = new HttpClient({ ...options.http, origin: url.origin, rateLimitWait: openAiRateLimitWait, rateKey: options.apiKey ?? '' });
		this.#profile = modelProfile(options.model);
		this.model = options.model;
		this.supports = { imageToImage: this.#profile.edits, upscale: false };
		this.limits = {
			maxPromptLength: this.#profile.maxPromptLength,
			// The API works at 1024-1536 px: a larger input only costs upload time (and input tokens).
			input: { minSide: 64, maxSide: 2048, maxPixels: 2_359_296 },
			upscaleInput: { minSide: 64, maxSide: 2048, maxPixels: 2_359_296 },
			maxOutputPixels: this.#profile.maxOutputPixels
		};
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		return nearestModelSize(this.#profile, asked);
	}

	public async textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		// One of the model's sizes: ImageGenerator asked resolveSize for it.
		const { size } = request;
		const body = JSON.stringify({
			model: this.#options.model,
			prompt: promptWithStyle(request.prompt, request.stylePreset),
			n: 1,
			size: `${size.width}x${size.height}`,
			...(this.#options.quality ? { quality: this.#options.quality } : {}),
			...(this.#profile.askBase64 ? { response_format: 'b64_json' } : {}),
			// gpt-image's laxer level ("auto" is its default, so nothing is sent otherwise); dall-e takes no such field.
			...(request.laxModeration && this.#profile.family === 'gpt-image' ? { moderation: 'low' } : {})
		});
		return this.#run('/images/generations', () => body, { 'content-type': 'application/json' }, unused(request, false), call);
	}

	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		if (!this.supports.imageToImage) return unsupportedFailure(this.name, this.model, 'change an image with a prompt');
		const size = nearestModelSize(this.#profile, { width: request.image.width, height: request.image.height });
		return this.#run(
			'/images/edits',
			() => {
				const form = new FormData();
				form.append('model', this.#options.model);
				form.append('prompt', promptWithStyle(request.prompt, request.stylePreset));
				form.append('n', '1');
				form.append('size', `${size.width}x${size.height}`);
				if (this.#options.quality) form.append('quality', this.#options.quality);
				if (this.#profile.askBase64) form.append('response_format', 'b64_json');
				form.append('image', new Blob([request.image.data], { type: 'image/png' }), 'image.png');
				return form;
			},
			{},
			unused(request, true),
			call
		);
	}

	/** The Images API has no upscaling; ImageGenerator does not call this (`supports.upscale` is false). */
	public async upscale(_request: ProviderUpscale, _call: ProviderCall): Promise<GenerationResult> {
		return unsupportedFailure(this.name, this.model, 'upscale images');
	}

	/** `GET /models`: free, needs the key (401 otherwise), and served by OpenAI, Azure and most compatible servers. */
	public async probe(call: ProviderCall): Promise<ProviderProbe> {
		const outcome = await this.#http.request({
			method: 'GET',
			path: `${this.#path.prefix}/models${this.#path.query}`,
			headers: { accept: 'application/json', ...this.#authorization() },
			...requestLimits(this.#options.http, PROBE_TIMEOUT_MS, call)
		});
		if (!outcome.ok) return this.#safe(outcome.failure);
		const { response } = outcome;
		if (response.status !== 200) return this.#safe(openAiFailure(response));
		const listed = parseJsonBody(response.body) as { data?: { id?: unknown }[] } | undefined;
		if (!Array.isArray(listed?.data))
			return generationFailure('PROVIDER_ERROR', 'The server answered, but not as the OpenAI API does: check OPENAI_BASE_URL.');
		const known = listed.data.some((model) => model.id === this.model);
		return {
			ok: true,
			detail: `the API answers and accepts the key${known ? `; ${this.model} is available` : `; ${this.model} is not in its model list`}`
		};
	}

	public async close(): Promise<void> {
		await this.#http.close();
	}

	async #run(
		path: string,
		body: NonNullable<HttpOperation['body']>,
		headers: Record<string, string>,
		unusedInputs: UnusedInput[],
		call: ProviderCall
	): Promise<GenerationResult> {
		const outcome = await this.#http.request({
			method: 'POST',
			path: `${this.#path.prefix}${path}${this.#path.query}`,
			headers: { accept: 'application/json', ...this.#authorization(), ...headers },
			body,
			...requestLimits(this.#options.http, this.#options.http.generateTimeoutMs, call)
		});
		if (!outcome.ok) return this.#safe(outcome.failure);
		const { response } = outcome;
		if (response.status !== 200) return this.#safe(openAiFailure(response));
		const answer = parseJsonBody(response.body) as ImagesAnswer | undefined;
		const first = Array.isArray(answer?.data) ? answer.data[0] : undefined;
		// A URL instead of base64 (a server that ignored response_format): fetching an address from an answer is
		// how server-side request forgery starts, so it is refused rather than followed.
		if (typeof first?.b64_json !== 'string' || first.b64_json === '') {
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		}
		const data = Buffer.from(first.b64_json, 'base64');
		const output = await inspectOutputImage(data);
		if (!output) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		const usage = usageOf(answer?.usage);
		return {
			ok: true,
			image: {
				data,
				...output,
				seed: 0,
				provider: this.name,
				model: this.model,
				preview: false,
				unusedInputs,
				...(usage ? { usage } : {})
			}
		};
	}

	#authorization(): Record<string, string> {
		return this.#options.apiKey ? { authorization: `Bearer ${this.#options.apiKey}` } : {};
	}

	/** OpenAI's own error text is passed on for a 400: make sure it never carries the key back. */
	#safe(failure: GenerationFailure): GenerationFailure {
		return withoutSecrets(failure, this.#options.apiKey ? [this.#options.apiKey] : []);
	}
}

/** What the API has no field for: the seed always, the negative prompt when one was given, the strength of an edit. */
function unused(request: { negativePrompt?: string }, edit: boolean): UnusedInput[] {
	return ['seed', ...(request.negativePrompt ? (['negativePrompt'] as const) : []), ...(edit ? (['strength'] as const) : [])];
}

/** `usage: { input_tokens, output_tokens, total_tokens, input_tokens_details: { text_tokens, image_tokens } }`, if well formed. */
function usageOf(usage: Record<string, unknown> | undefined): ProviderUsage | undefined {
	if (!usage || typeof usage !== 'object') return undefined;
	const count = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined);
	const inputTokens = count(usage.input_tokens);
	const outputTokens = count(usage.output_tokens);
	const totalTokens =
		count(usage.total_tokens) ?? (inputTokens !== undefined && outputTokens !== undefined ? inputTokens + outputTokens : undefined);
	if (inputTokens === undefined || outputTokens === undefined || totalTokens === undefined) return undefined;
	const details = usage.input_tokens_details as Record<string, unknown> | undefined;
	const inputTextTokens = count(details?.text_tokens);
	const inputImageTokens = count(details?.image_tokens);
	return {
		inputTokens,
		outputTokens,
		totalTokens,
		...(inputTextTokens === undefined ? {} : { inputTextTokens }),
		...(inputImageTokens === undefined ? {} : { inputImageTokens })
	};
}
