import {
	generationFailure,
	generationMessages,
	unsupportedFailure,
	type GenerationFailure,
	type GenerationResult,
	type ProviderName
} from './GenerationResult.js';
import { RequestLimiter } from './http/RequestLimiter.js';
import type { SharedRateWindows } from './http/SharedRateWindow.js';
import { decodeInputImage, inspectOutputImage, resizeImage } from './imageData.js';
import { providerHttpSettings, resolveGenerationOptions, type GenerationOptions, type ResolvedGenerationOptions } from './options.js';
import { Automatic1111Provider } from './providers/automatic1111.js';
import { ComfyUIProvider } from './providers/comfyui/ComfyUIProvider.js';
import { OpenAIProvider } from './providers/openai/OpenAIProvider.js';
import { PreviewProvider } from './providers/preview.js';
import { StabilityProvider } from './providers/stability/StabilityProvider.js';
import {
	isAspectRatio,
	isStylePreset,
	MAX_SEED,
	STYLE_PRESETS,
	type DecodedImage,
	type ImageProvider,
	type ImageToImageRequest,
	type ProviderCall,
	type ProviderSupport,
	type ProviderProbe,
	type StylePreset,
	type TextToImageRequest,
	type UpscaleRequest
} from './requests.js';

export interface GeneratorDependencies {
	sharedRateWindows?: SharedRateWindows;
}

export interface GeneratorDescription {
	provider: ProviderName;
	model: string;
	/** False when the configured provider cannot run (e.g. no API key): every call answers NOT_CONFIGURED. */
	configured: boolean;
	/** True for the offline preview provider. */
	preview: boolean;
	/** Which kinds of job beyond text-to-image the provider does (OpenAI: no upscale); a bot can leave out what cannot work. */
	supports: ProviderSupport;
}

/** The largest result an upscale may ask for (16 MP, Stability's own cap). */
const MAX_UPSCALE_PIXELS = 16_777_216;

/**
 * Image generation on `container.generator`: checks every input before any call (prompt length, style,
 * size, strength, seed; input images sniffed, decoded, capped and resized), then asks the configured
 * provider, at most `concurrency` generations at once, whichever the provider: the others wait in order
 * and are told their place (`onQueued`). Results are values: `{ ok: true, image }` or `{ ok: false, reason, message }`.
 */
export class ImageGenerator {
	public readonly options: ResolvedGenerationOptions;
	readonly #provider: ImageProvider | null;
	readonly #turns: RequestLimiter;

	public constructor(options: ResolvedGenerationOptions, provider: ImageProvider | null) {
		this.options = options;
		this.#provider = provider;
		this.#turns = new RequestLimiter({ maxConcurrent: options.concurrency });
	}

	/** Generations the provider is working on now, and how many wait for their turn. */
	public get queue(): { running: number; waiting: number } {
		return { running: this.#turns.active, waiting: this.#turns.queued };
	}

	/**
	 * Builds the generator and its provider from plugin options (validated; a bad field throws naming it).
	 * `sharedRateWindows`: where the providers' rate windows are shared with other processes (the storage's ledger).
	 */
	public static create(input?: GenerationOptions | ResolvedGenerationOptions, dependencies: GeneratorDependencies = {}): ImageGenerator {
		const options = resolveGenerationOptions(stripResolved(input));
		return new ImageGenerator(options, options.notConfigured ? null : createProvider(options, dependencies.sharedRateWindows));
	}

	public describe(): GeneratorDescription {
		return {
			provider: this.options.activeProvider,
			model: this.#provider?.model ?? 'none',
			configured: this.#provider !== null,
			preview: this.options.activeProvider === 'preview',
			supports: { ...(this.#provider?.supports ?? { imageToImage: false, upscale: false }) }
		};
	}

	/** The style presets `stylePreset` accepts. */
	public getAvailableStyles(): readonly StylePreset[] {
		return STYLE_PRESETS;
	}

	public async textToImage(request: TextToImageRequest, call: ProviderCall = {}): Promise<GenerationResult> {
		const provider = this.#provider;
		if (!provider) return generationFailure('NOT_CONFIGURED', generationMessages.notConfigured);
		const common = this.#checkCommon(request, provider);
		if ('ok' in common) return common;
		for (const [name, value] of [
			['width', request.width],
			['height', request.height]
		] as const) {
			if (value !== undefined && !isIntegerIn(value, 64, 4096))
				return invalid(`The ${name} must be a whole number of pixels from 64 to 4096.`);
		}
		if (request.aspectRatio !== undefined && !isAspectRatio(request.aspectRatio)) {
			return invalid(`Unknown aspect ratio. Use one of: 1:1, 16:9, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21.`);
		}
		const size = provider.resolveSize({ width: request.width, height: request.height, aspectRatio: request.aspectRatio as never });
		if (typeof size === 'string') return invalid(size);
		return this.#inTurn(call, () => this.#checked(provider.textToImage({ ...common, size }, call), null));
	}

	public async imageToImage(request: ImageToImageRequest, call: ProviderCall = {}): Promise<GenerationResult> {
		const provider = this.#provider;
		if (!provider) return generationFailure('NOT_CONFIGURED', generationMessages.notConfigured);
		if (!provider.supports.imageToImage) return unsupportedFailure(provider.name, provider.model, 'change an image with a prompt');
		const common = this.#checkCommon(request, provider);
		if ('ok' in common) return common;
		const strength = request.strength ?? this.options.defaultStrength;
		if (typeof strength !== 'number' || !(strength >= 0 && strength <= 1)) return invalid('The strength must be a number from 0 to 1.');
		const image = await this.#decode(request.image, provider.limits.input);
		if ('ok' in image) return image;
		return this.#inTurn(call, () => this.#checked(provider.imageToImage({ ...common, image, strength }, call), null));
	}

	/** Upscales to `width` (default: twice the input's), keeping the aspect ratio. */
	public async upscaleImage(request: UpscaleRequest, call: ProviderCall = {}): Promise<GenerationResult> {
		const provider = this.#provider;
		if (!provider) return generationFailure('NOT_CONFIGURED', generationMessages.notConfigured);
		if (!provider.supports.upscale) return unsupportedFailure(provider.name, provider.model, 'upscale images');
		const original = await this.#decode(request.image, {
			minSide: 1,
			maxSide: Number.MAX_SAFE_INTEGER,
			maxPixels: Number.MAX_SAFE_INTEGER
		});
		if ('ok' in original) return original;
		const width = request.width ?? original.width * 2;
		if (!isIntegerIn(width, original.width + 1, original.width * 4)) {
			return invalid(`The upscaled width must be a whole number above the image's ${original.width} px and at most 4 times it.`);
		}
		const height = Math.round((width * original.height) / original.width);
		if (width * height > MAX_UPSCALE_PIXELS)
			return invalid('The upscaled image would be larger than 16 megapixels. Ask for a smaller width.');
		const image = await this.#decode(original.data, provider.limits.upscaleInput);
		if ('ok' in image) return image;
		return this.#inTurn(call, () => this.#checked(provider.upscale({ image, width, height }, call), { width, height }));
	}

	/**
	 * Asks the provider whether it answers and accepts the credentials, without generating anything (the
	 * command-line doctor): NOT_CONFIGURED when no provider can run, AUTH for a refused key, UNAVAILABLE or
	 * TIMEOUT when it cannot be reached.
	 */
	public async probe(call: ProviderCall = {}): Promise<ProviderProbe> {
		if (!this.#provider) return generationFailure('NOT_CONFIGURED', generationMessages.notConfigured);
		return this.#provider.probe(call);
	}

	public async close(): Promise<void> {
		await this.#provider?.close();
	}

	#checkCommon(request: TextToImageRequest | ImageToImageRequest, provider: ImageProvider) {
		const prompt = typeof request.prompt === 'string' ? request.prompt.trim() : '';
		if (!prompt) return invalid('The prompt is empty. Describe the image you want.');
		const max = provider.limits.maxPromptLength;
		if (prompt.length > max) return invalid(`The prompt is too long: ${prompt.length} characters, at most ${max}.`);
		const negativePrompt = request.negativePrompt?.trim() || undefined;
		if (negativePrompt && negativePrompt.length > max) return invalid(`The negative prompt is too long: at most ${max} characters.`);
		if (request.stylePreset !== undefined && !isStylePreset(request.stylePreset)) {
			return invalid(`Unknown style. Pick one of: ${STYLE_PRESETS.join(', ')}.`);
		}
		if (request.seed !== undefined && !isIntegerIn(request.seed, 0, MAX_SEED))
			return invalid(`The seed must be a whole number from 0 to ${MAX_SEED}.`);
		if (request.steps !== undefined && !isIntegerIn(request.steps, 10, 150))
			return invalid('The steps must be a whole number from 10 to 150.');
		if (request.cfgScale !== undefined && !(typeof request.cfgScale === 'number' && request.cfgScale >= 0 && request.cfgScale <= 35)) {
			return invalid('The guidance scale (cfg) must be a number from 0 to 35.');
		}
		return {
			prompt,
			negativePrompt,
			stylePreset: request.stylePreset as StylePreset | undefined,
			steps: request.steps,
			seed: request.seed ?? 0,
			cfgScale: request.cfgScale,
			...(request.laxModeration === true ? { laxModeration: true } : {})
		};
	}

	async #decode(data: Uint8Array, box: { minSide: number; maxSide: number; maxPixels: number }): Promise<DecodedImage | GenerationFailure> {
		if (!(data instanceof Uint8Array)) return invalid('No image was given.');
		const decoded = await decodeInputImage(
			data,
			{ maxBytes: Math.round(this.options.maxInputMb * 1024 * 1024), maxPixels: Math.round(this.options.maxInputMegapixels * 1e6) },
			box
		);
		return decoded.ok ? decoded.image : invalid(decoded.message);
	}

	/**
	 * Runs one generation when its turn comes. A job whose time runs out (or that is cancelled) while it waits
	 * never reaches the provider, so nothing is spent for it.
	 */
	async #inTurn(call: ProviderCall, generate: () => Promise<GenerationResult>): Promise<GenerationResult> {
		let release: () => void;
		try {
			release = await this.#turns.acquire(call.signal, call.onQueued);
		} catch (reason) {
			const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError';
			return generationFailure('TIMEOUT', timedOut ? generationMessages.queueTimeout : generationMessages.cancelled);
		}
		try {
			return await generate();
		} finally {
			release();
		}
	}

	/**
	 * The one place a provider's answer is checked: it must be a whole image, and an upscale must have the
	 * size that was asked (a provider's fixed factor is resized here, not in each provider).
	 */
	async #checked(pending: Promise<GenerationResult>, exactSize: { width: number; height: number } | null): Promise<GenerationResult> {
		const result = await pending;
		if (!result.ok) return result;
		// The one check every provider's answer passes: a whole image, no larger than the provider can make.
		const output = await inspectOutputImage(result.image.data, this.#provider?.limits.maxOutputPixels);
		if (!output) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		if (exactSize && (output.width !== exactSize.width || output.height !== exactSize.height)) {
			const data = await resizeImage(result.image.data, exactSize.width, exactSize.height);
			return { ok: true, image: { ...result.image, data, mimeType: 'image/png', ...exactSize } };
		}
		return { ok: true, image: { ...result.image, width: output.width, height: output.height, mimeType: output.mimeType } };
	}
}

function createProvider(options: ResolvedGenerationOptions, shared: SharedRateWindows | undefined): ImageProvider {
	if (options.customProvider) return options.customProvider;
	switch (options.activeProvider) {
		case 'stability':
			return new StabilityProvider({
				...options.stability,
				apiKey: options.stability.apiKey as string,
				http: providerHttpSettings(options, 'stability', shared)
			});
		case 'automatic1111':
			return new Automatic1111Provider({ ...options.automatic1111, http: providerHttpSettings(options, 'automatic1111', shared) });
		case 'comfyui':
			return new ComfyUIProvider({
				...options.comfyui,
				workflows: options.comfyuiWorkflows,
				http: providerHttpSettings(options, 'comfyui', shared)
			});
		case 'openai':
			return new OpenAIProvider({ ...options.openai, http: providerHttpSettings(options, 'openai', shared) });
		case 'preview':
			return new PreviewProvider();
		default:
			throw new TypeError(`Unknown image provider ${options.activeProvider}`);
	}
}

/** Resolved options carry computed fields the schema (strict) does not know. */
function stripResolved(input?: GenerationOptions | ResolvedGenerationOptions): GenerationOptions | undefined {
	if (!input || !('activeProvider' in input)) return input;
	const { activeProvider: _active, customProvider: _custom, notConfigured: _notConfigured, comfyuiWorkflows: _workflows, ...rest } = input;
	return rest as GenerationOptions;
}

function invalid(message: string): GenerationFailure {
	return generationFailure('INVALID_INPUT', message);
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
	return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
