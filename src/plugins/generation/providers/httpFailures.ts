import { generationFailure, generationMessages, type GenerationFailure } from '../GenerationResult.js';
import type { HttpResponse } from '../http/HttpClient.js';
import { secretMasker } from '../../shared/maskSecrets.js';
import { truncate } from '../../shared/truncate.js';

/**
 * What a non-2xx answer means for the user, for every HTTP provider alike. The provider's own error
 * text is kept only where it helps the user fix the request (400, 422) and is cut short; nothing of
 * ours (the key, the headers) is ever in it.
 */
export function failureFromResponse(response: HttpResponse, providerLabel: string): GenerationFailure {
	const detail = errorDetail(response.body);
	switch (response.status) {
		case 400:
		case 422:
			return generationFailure('INVALID_INPUT', `${providerLabel} refused the request${detail ? `: ${detail}` : '.'}`);
		case 401:
			return generationFailure('AUTH', generationMessages.auth);
		case 403:
			return detail.includes('content_moderation') || /moderat|filter|safety/i.test(detail)
				? generationFailure('CONTENT_FILTERED', generationMessages.contentFiltered)
				: generationFailure('AUTH', generationMessages.auth);
		case 404:
			return generationFailure(
				'PROVIDER_ERROR',
				`${providerLabel} does not offer the configured model or engine. The bot owner has to pick another.`
			);
		case 413:
			return generationFailure('INVALID_INPUT', 'The image is too large for the provider (10 MB at most). Try a smaller one.');
		case 502:
		case 503:
		case 504:
			return generationFailure('UNAVAILABLE', generationMessages.unavailable);
		default:
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
	}
}

/**
 * A short, printable summary of a JSON error body: `name: first error` (Stability: `{ name, errors[] }` or
 * `{ name, message }`; OpenAI and ComfyUI: `{ error: { message } }`).
 */
export function errorDetail(body: Buffer): string {
	if (body.length === 0 || body.length > 64 * 1024) return '';
	try {
		const parsed = JSON.parse(body.toString('utf8')) as {
			name?: unknown;
			errors?: unknown;
			message?: unknown;
			detail?: unknown;
			error?: unknown;
		};
		// OpenAI and ComfyUI nest theirs: `{ error: { message, ... } }`.
		const nested = parsed.error && typeof parsed.error === 'object' ? (parsed.error as { message?: unknown }).message : undefined;
		const first = Array.isArray(parsed.errors) ? parsed.errors[0] : (parsed.message ?? parsed.detail ?? nested ?? parsed.error);
		const text = [parsed.name, first].filter((part) => typeof part === 'string' && part.length > 0).join(': ');
		return printableSummary(text);
	} catch {
		return '';
	}
}

/** A provider's own words, made safe for a reply: printable characters only, one line, at most `max` characters. */
export function printableSummary(text: string, max = 200): string {
	const printable = text
		.replace(/[^\p{L}\p{N}\p{P}\p{Zs}]/gu, ' ')
		.replace(/\s+/g, ' ')
		.trim();
	return truncate(printable, max, '...');
}

/** The failure with every secret in its message masked: a server may echo what it was sent (a key, a header). */
export function withoutSecrets(failure: GenerationFailure, secrets: readonly string[]): GenerationFailure {
	const message = secretMasker(secrets)(failure.message);
	return message === failure.message ? failure : { ...failure, message };
}
