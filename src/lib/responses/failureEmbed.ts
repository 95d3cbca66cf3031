import type { EmbedBuilder } from 'discord.js';
import { fittedEmbed } from './fitEmbed.js';
import { Colors } from './theme.js';

const TITLES: Record<string, string> = {
	INVALID_INPUT: 'That did not work',
	INVALID_NAME: 'That did not work',
	INVALID_IMAGE: 'Not an image',
	NOT_FOUND: 'Not found',
	CONTENT_FILTERED: 'Blocked by the safety filter',
	RATE_LIMITED: 'The image service is busy',
	TIMEOUT: 'The image service took too long',
	UNAVAILABLE: 'The image service is unavailable',
	NOT_CONFIGURED: 'Image generation is off',
	UNSUPPORTED: 'Not available with this image service',
	AUTH: 'The image service refused the bot',
	PROVIDER_ERROR: 'The image could not be made',
	IO: 'The image could not be saved',
	USER_BLOCKED: 'You are blocked',
	NOT_HERE: 'Not here',
	PROMPT_BLOCKED: 'Prompt not allowed',
	TOO_MANY_JOBS: 'Too many images on the way',
	CREDIT_BUDGET: 'Daily budget used up'
};

/** An expected failure (a value, not an exception): its message, written for users, under a title naming it. */
export function buildFailureEmbed(failure: { reason?: string; message: string; retryAfterMs?: number }): EmbedBuilder {
	const retry = failure.retryAfterMs ? `\nTry again in ${Math.ceil(failure.retryAfterMs / 1000)} s.` : '';
	return fittedEmbed({
		color: Colors.error,
		title: TITLES[failure.reason ?? ''] ?? 'That did not work',
		description: `${failure.message}${failure.message.includes('Try again in') ? '' : retry}`
	});
}
