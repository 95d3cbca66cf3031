import { failureOf, type Failure } from '../shared/Failure.js';

/** The providers this plugin ships. */
export const BUILT_IN_PROVIDERS = ['stability', 'automatic1111', 'comfyui', 'openai', 'preview'] as const;
export type BuiltInProviderName = (typeof BUILT_IN_PROVIDERS)[number];
/** A built-in provider, or the name a bot's own provider (an `ImageProvider` passed as `generation.provider`) gives itself. */
export type ProviderName = BuiltInProviderName | (string & {});

/** How users and logs name each provider. */
export const PROVIDER_LABELS: Record<BuiltInProviderName, string> = {
	stability: 'Stability AI',
	automatic1111: 'Stable Diffusion (local)',
	comfyui: 'ComfyUI',
	openai: 'OpenAI',
	preview: 'Offline preview'
};

/** How people read a provider's name: the built-in ones have labels; a bot's own provider is shown by its name. */
export function providerLabel(name: ProviderName): string {
	return Object.hasOwn(PROVIDER_LABELS, name) ? PROVIDER_LABELS[name as BuiltInProviderName] : name;
}

export type GenerationFailureReason =
	| 'NOT_CONFIGURED'
	| 'UNSUPPORTED'
	| 'INVALID_INPUT'
	| 'CONTENT_FILTERED'
	| 'RATE_LIMITED'
	| 'AUTH'
	| 'TIMEOUT'
	| 'UNAVAILABLE'
	| 'PROVIDER_ERROR';

/** The generation plugin's failures: the one failure shape, with the generation reasons (RATE_LIMITED carries `retryAfterMs`). */
export type GenerationFailure = Failure<GenerationFailureReason>;

/**
 * An input that had no effect: OpenAI has no seed, no negative prompt and no strength; an owner's ComfyUI
 * workflow may have no place for a negative prompt.
 */
export type UnusedInput = 'seed' | 'negativePrompt' | 'strength';

/** What a call used, as the provider reported it (OpenAI's token counts), for a credit budget to read. */
export interface ProviderUsage {
	inputTokens: number;
	outputTokens: number;
	totalTokens: number;
	/** Of the input tokens, those of the prompt's text and of input images, when the provider splits them. */
	inputTextTokens?: number;
	inputImageTokens?: number;
}

export interface GeneratedImage {
	data: Buffer;
	mimeType: string;
	width: number;
	height: number;
	/** The seed used; 0 when the provider has none (then `unusedInputs` lists `seed`) or for an upscale. */
	seed: number;
	provider: ProviderName;
	model: string;
	/** True for the offline preview provider: the image is a placeholder, not an AI generation. */
	preview: boolean;
	/** Inputs that had no effect on the image, so a reply and the stored metadata can say so. */
	unusedInputs?: UnusedInput[];
	/** The provider's own account of the call, when it gives one. */
	usage?: ProviderUsage;
}

export type GenerationResult = { ok: true; image: GeneratedImage } | GenerationFailure;

export function generationFailure(reason: GenerationFailureReason, message: string, retryAfterMs?: number): GenerationFailure {
	return failureOf(reason, message, retryAfterMs === undefined ? {} : { retryAfterMs });
}

/** A kind of job the configured provider does not do at all (OpenAI cannot upscale), said before any call. */
export function unsupportedFailure(provider: ProviderName, model: string, what: string): GenerationFailure {
	return generationFailure('UNSUPPORTED', generationMessages.unsupported(`${providerLabel(provider)} (${model})`, what));
}

/** The messages users see; provider details go to the log, never into a reply. */
export const generationMessages = {
	notConfigured: 'Image generation is not configured on this bot. Ask the bot owner to set an image provider.',
	unsupported: (provider: string, what: string) => `${provider} cannot ${what}, so this bot cannot do it right now. Nothing was charged.`,
	contentFiltered: "The image provider's safety filter blocked this request. Try a different prompt.",
	auth: "The image provider rejected the bot's credentials. The bot owner has to check the API key; nothing was charged.",
	timeout: 'The image provider took too long to answer. Nothing was charged; try again.',
	queueTimeout: 'Too many images were waiting and yours did not start in time. Nothing was charged; try again in a few minutes.',
	unavailable: 'The image provider cannot be reached right now. Nothing was charged; try again in a few minutes.',
	providerError: 'The image provider failed to create the image. Nothing was charged; try again.',
	rateLimited: (seconds: number) => `The image provider is busy (rate limit). Try again in ${seconds} s.`,
	shuttingDown: 'The bot is restarting and is not taking new images right now. Try again in a minute.',
	cancelled: 'The request was cancelled. Nothing was charged.'
} as const;
