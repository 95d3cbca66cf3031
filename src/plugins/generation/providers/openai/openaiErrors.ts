import { generationFailure, generationMessages, type GenerationFailure } from '../../GenerationResult.js';
import { retryAfterMs, type HttpResponse } from '../../http/HttpClient.js';
import { parseJsonBody } from '../../http/jsonBody.js';
import { failureFromResponse } from '../httpFailures.js';

/**
 * OpenAI's errors: `{ error: { message, type, param, code } }`. Azure OpenAI adds `inner_error` (or
 * `innererror`) with `code: "ResponsibleAIPolicyViolation"` to a content-filter refusal, whose own code is
 * `content_filter` (chat) or `contentFilter` (images).
 */
interface ErrorBody {
	code?: unknown;
	type?: unknown;
	inner_error?: { code?: unknown };
	innererror?: { code?: unknown };
}

const MODERATION_CODES = new Set(['moderation_blocked', 'content_policy_violation', 'content_filter', 'contentfilter']);

const LABEL = 'OpenAI';

/** What a non-2xx answer of the Images API means for the user. */
export function openAiFailure(response: HttpResponse): GenerationFailure {
	const error = errorOf(response);
	const code = typeof error?.code === 'string' ? error.code.toLowerCase() : '';
	const innerCode = error?.inner_error?.code ?? error?.innererror?.code;
	if (MODERATION_CODES.has(code) || innerCode === 'ResponsibleAIPolicyViolation') {
		return generationFailure('CONTENT_FILTERED', generationMessages.contentFiltered);
	}
	if (response.status === 401 || response.status === 403) return generationFailure('AUTH', generationMessages.auth);
	if (response.status === 429 && code === 'insufficient_quota') {
		return generationFailure(
			'PROVIDER_ERROR',
			"The image provider's account has no credit left. The bot owner has to check its billing; nothing was charged."
		);
	}
	return failureFromResponse(response, LABEL);
}

/**
 * How long a 429 asks to wait (the HTTP client's `rateLimitWait`): Azure's `retry-after-ms`, then Retry-After,
 * then the reset of whichever limit is used up (`x-ratelimit-reset-requests` / `-tokens`, durations such as
 * "1s", "6m0s" or "20ms"). Null for `insufficient_quota`: no wait brings credit back.
 */
export function openAiRateLimitWait(response: HttpResponse): number | null | undefined {
	if (errorOf(response)?.code === 'insufficient_quota') return null;
	const headers = response.headers;
	const milliseconds = Number(headers['retry-after-ms']);
	if (headers['retry-after-ms'] !== undefined && Number.isFinite(milliseconds) && milliseconds >= 0) return Math.round(milliseconds);
	const retryAfter = retryAfterMs(headers['retry-after']);
	if (retryAfter !== undefined) return retryAfter;
	const requests = durationMs(headers['x-ratelimit-reset-requests']);
	const tokens = durationMs(headers['x-ratelimit-reset-tokens']);
	const exhausted = [
		headers['x-ratelimit-remaining-requests'] === '0' ? requests : undefined,
		headers['x-ratelimit-remaining-tokens'] === '0' ? tokens : undefined
	].filter((value): value is number => value !== undefined);
	if (exhausted.length > 0) return Math.max(...exhausted);
	return requests ?? tokens;
}

/** A Go-style duration as OpenAI sends it ("1s", "6m0s", "1h2m3.5s", "20ms") in ms; undefined when unreadable. */
export function durationMs(text: string | undefined): number | undefined {
	if (!text) return undefined;
	const value = text.trim();
	if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(value)) return undefined;
	const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
	let total = 0;
	for (const match of value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) total += Number(match[1]) * (unit[match[2] as string] as number);
	return Math.round(total);
}

function errorOf(response: HttpResponse): ErrorBody | undefined {
	const body = parseJsonBody(response.body) as { error?: unknown } | undefined;
	return body && typeof body.error === 'object' && body.error !== null ? (body.error as ErrorBody) : undefined;
}
