export type ProviderName = 'stability' | 'automatic1111' | 'preview';

export type GenerationFailureReason =
	'NOT_CONFIGURED' | 'INVALID_INPUT' | 'CONTENT_FILTERED' | 'RATE_LIMITED' | 'AUTH' | 'TIMEOUT' | 'UNAVAILABLE' | 'PROVIDER_ERROR';

/** An expected failure: a value with a code and a message a Discord user understands. */
export interface GenerationFailure {
	ok: false;
	reason: GenerationFailureReason;
	message: string;
	/** For RATE_LIMITED: when trying again makes sense. */
	retryAfterMs?: number;
}

export interface GeneratedImage {
	data: Buffer;
	mimeType: string;
	width: number;
	height: number;
	seed: number;
	provider: ProviderName;
	model: string;
	/** True for the offline preview provider: the image is a placeholder, not an AI generation. */
	preview: boolean;
}

export type GenerationResult = { ok: true; image: GeneratedImage } | GenerationFailure;

export function generationFailure(reason: GenerationFailureReason, message: string, retryAfterMs?: number): GenerationFailure {
	return retryAfterMs === undefined ? { ok: false, reason, message } : { ok: false, reason, message, retryAfterMs };
}

/** The messages users see; provider details go to the log, never into a reply. */
export const generationMessages = {
	notConfigured: 'Image generation is not configured on this bot. Ask the bot owner to set an image provider.',
	contentFiltered: "The image provider's safety filter blocked this request. Try a different prompt.",
	auth: "The image provider rejected the bot's credentials. The bot owner has to check the API key; nothing was charged.",
	timeout: 'The image provider took too long to answer. Nothing was charged; try again.',
	unavailable: 'The image provider cannot be reached right now. Nothing was charged; try again in a few minutes.',
	providerError: 'The image provider failed to create the image. Nothing was charged; try again.',
	rateLimited: (seconds: number) => `The image provider is busy (rate limit). Try again in ${seconds} s.`,
	shuttingDown: 'The bot is restarting and is not taking new images right now. Try again in a minute.',
	cancelled: 'The request was cancelled. Nothing was charged.'
} as const;
