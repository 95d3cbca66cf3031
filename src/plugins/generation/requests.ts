import { BUILT_IN_PROVIDERS, type GenerationFailure, type GenerationResult, type ProviderName } from './GenerationResult.js';

/** Stability's style presets (v2beta and v1 share them); the other providers fold the style into the prompt. */
export const STYLE_PRESETS = [
	'3d-model',
	'analog-film',
	'anime',
	'cinematic',
	'comic-book',
	'digital-art',
	'enhance',
	'fantasy-art',
	'isometric',
	'line-art',
	'low-poly',
	'modeling-compound',
	'neon-punk',
	'origami',
	'photographic',
	'pixel-art',
	'tile-texture'
] as const;
export type StylePreset = (typeof STYLE_PRESETS)[number];

/** Stability v2beta's aspect ratios. */
export const ASPECT_RATIOS = ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

export const MAX_SEED = 4_294_967_294;

export interface TextToImageRequest {
	prompt: string;
	negativePrompt?: string;
	stylePreset?: string;
	width?: number;
	height?: number;
	/** Wins over width/height where the provider works in ratios. */
	aspectRatio?: string;
	steps?: number;
	/** 0 or absent: a random seed (the result says which). */
	seed?: number;
	cfgScale?: number;
	/**
	 * Use the provider's laxer moderation level, where it has one (OpenAI gpt-image: `moderation: "low"`). The guarded
	 * job sets it, only where the server's laxer setting for age-restricted channels is in force; what a command passes
	 * is replaced.
	 */
	laxModeration?: boolean;
}

export interface ImageToImageRequest {
	image: Uint8Array;
	prompt: string;
	negativePrompt?: string;
	stylePreset?: string;
	/** How far from the input to move, 0..1 (default 0.35). */
	strength?: number;
	steps?: number;
	seed?: number;
	cfgScale?: number;
	/** As for text to image. */
	laxModeration?: boolean;
}

export interface UpscaleRequest {
	image: Uint8Array;
	/** Width of the result; default twice the input's. The height keeps the aspect ratio. */
	width?: number;
}

/** An input image after checks: decoded, within the provider's limits, re-encoded as PNG. */
export interface DecodedImage {
	data: Buffer;
	width: number;
	height: number;
}

export interface Dimensions {
	width: number;
	height: number;
	aspectRatio: AspectRatio;
}

/** What a provider receives: validated, with defaults applied. */
export interface ProviderTextToImage {
	prompt: string;
	negativePrompt?: string;
	stylePreset?: StylePreset;
	size: Dimensions;
	steps?: number;
	/** 0 = let the provider pick. */
	seed: number;
	cfgScale?: number;
	/** Use the provider's laxer moderation level, where it has one (a provider without one ignores it). */
	laxModeration?: boolean;
}

export interface ProviderImageToImage extends Omit<ProviderTextToImage, 'size'> {
	image: DecodedImage;
	strength: number;
}

export interface ProviderUpscale {
	image: DecodedImage;
	/** The size asked for; a provider may return a larger image, which the generator resizes. */
	width: number;
	height: number;
}

/** Per-call hooks and cancellation. */
export interface ProviderCall {
	signal?: AbortSignal;
	/** The request's place in a queue (1 = next): the bot's own limiter, or the provider's queue (ComfyUI). */
	onQueued?: (position: number) => void;
	/** The provider started working on the request. */
	onStarted?: () => void;
	/** Steps done of the current stage (ComfyUI's sampler steps), as the provider reports them. */
	onProgress?: (value: number, max: number) => void;
}

/** Which kinds of job a provider can do at all; the generator refuses the others (UNSUPPORTED) before any call. */
export interface ProviderSupport {
	imageToImage: boolean;
	upscale: boolean;
}

/** Limits the generator checks before any call. */
export interface ProviderLimits {
	maxPromptLength: number;
	/** Input images are resized to fit these before they are sent. */
	input: { minSide: number; maxSide: number; maxPixels: number };
	upscaleInput: { minSide: number; maxSide: number; maxPixels: number };
	/**
	 * The most pixels this provider can return (its largest upscale). A larger answer is refused unread: decoding,
	 * storing and re-encoding a 100 MP image for Discord takes minutes and is never what was asked for.
	 */
	maxOutputPixels: number;
}

/**
 * What a provider's health check found: it answers and accepts the credentials (`detail` says what it reported,
 * e.g. the credits left), or why not, as the same failure values a generation returns.
 */
export type ProviderProbe = { ok: true; detail: string; credits?: number } | GenerationFailure;

export interface ImageProvider {
	readonly name: ProviderName;
	readonly model: string;
	readonly limits: ProviderLimits;
	readonly supports: ProviderSupport;
	/** The size this provider will produce for what was asked, or a message saying what it accepts. */
	resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string;
	textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult>;
	imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult>;
	upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult>;
	/** The cheapest call that proves the provider answers and accepts the credentials; generates and charges nothing. */
	probe(call: ProviderCall): Promise<ProviderProbe>;
	close(): Promise<void>;
}

/**
 * Whether `value` is an `ImageProvider`: what a bot may pass as `generation.provider` to bring its own (a name of
 * 1..32 lowercase letters, digits or dashes that is not a built-in provider's, its limits and capabilities, and every method).
 */
export function isImageProvider(value: unknown): value is ImageProvider {
	if (value === null || typeof value !== 'object') return false;
	const provider = value as Partial<Record<keyof ImageProvider, unknown>>;
	return (
		typeof provider.name === 'string' &&
		/^[a-z0-9-]{1,32}$/.test(provider.name) &&
		!(BUILT_IN_PROVIDERS as readonly string[]).includes(provider.name) &&
		typeof provider.model === 'string' &&
		typeof provider.limits === 'object' &&
		provider.limits !== null &&
		typeof provider.supports === 'object' &&
		provider.supports !== null &&
		(['resolveSize', 'textToImage', 'imageToImage', 'upscale', 'probe', 'close'] as const).every(
			(method) => typeof provider[method] === 'function'
		)
	);
}

/** The supported aspect ratio nearest to width:height (compared on a log scale, so 2:1 and 1:2 are equally far from 1:1). */
export function nearestAspectRatio(width: number, height: number): AspectRatio {
	const target = Math.log(width / height);
	let best: AspectRatio = '1:1';
	let bestDistance = Number.POSITIVE_INFINITY;
	for (const ratio of ASPECT_RATIOS) {
		const [w, h] = ratio.split(':').map(Number) as [number, number];
		const distance = Math.abs(Math.log(w / h) - target);
		if (distance < bestDistance) {
			best = ratio;
			bestDistance = distance;
		}
	}
	return best;
}

/** An aspect ratio's width over its height: 16:9 -> 1.78. */
export function ratioOf(aspectRatio: AspectRatio): number {
	const [w, h] = aspectRatio.split(':').map(Number) as [number, number];
	return w / h;
}

export function isStylePreset(value: unknown): value is StylePreset {
	return typeof value === 'string' && (STYLE_PRESETS as readonly string[]).includes(value);
}

export function isAspectRatio(value: unknown): value is AspectRatio {
	return typeof value === 'string' && (ASPECT_RATIOS as readonly string[]).includes(value);
}
