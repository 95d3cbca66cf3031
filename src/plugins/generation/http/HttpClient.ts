import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, type Dispatcher, type FormData } from 'undici';
import { generationFailure, generationMessages, type GenerationFailure } from '../GenerationResult.js';
import { createHash } from 'node:crypto';
import { readCapped } from '../../shared/readCapped.js';
import { RequestLimiter, type WindowPlace } from './RequestLimiter.js';
import type { SharedRateWindows } from './SharedRateWindow.js';

/**
 * One provider's HTTP: a connection pool, per-operation time-outs, a response size cap, a client-side
 * limiter, and a retry policy written out here rather than undici's retry interceptor, because the
 * rules differ per status: 429 waits for Retry-After (bounded), 5xx and dropped connections retry a
 * few times with jitter, and nothing else is retried (a 400 or a filtered image will not get better,
 * and a time-out retried would double a user's wait).
 */
export interface HttpClientOptions {
	origin: string;
	/** Requests in flight at once; more wait in the limiter's queue. */
	maxConcurrent: number;
	/** Requests started per window (Stability: 150 per 10 s). */
	maxPerWindow: number;
	windowMs: number;
	/** Retries after a 5xx or a dropped connection. */
	maxRetries: number;
	/** First back-off; each retry waits a random time up to twice the previous cap (full jitter). */
	retryBaseDelayMs: number;
	/** Waits after a 429. */
	maxRateLimitRetries: number;
	/** The longest 429 wait worth sitting through; a longer Retry-After returns RATE_LIMITED at once. */
	maxRateLimitWaitMs: number;
	/** What a 429 without Retry-After means (Stability locks a key out for 60 s). */
	defaultRateLimitWaitMs: number;
	/**
	 * How long a 429 asks to wait, in ms. Undefined when it does not say (then `defaultRateLimitWaitMs`);
	 * null when waiting cannot help (OpenAI's `insufficient_quota`): the 429 then goes back to the provider
	 * as an answer, for it to explain. Default: the Retry-After header.
	 */
	rateLimitWait?: (response: HttpResponse) => number | null | undefined;
	/**
	 * The window shared with every other process using the same key (the provider's limit is the key's, not the
	 * process's), looked up at each request: the storage that keeps it opens after the client is built.
	 */
	sharedWindows?: SharedRateWindows;
	/** What the provider's limit belongs to besides its address: its API key. Only a hash of it is used. */
	rateKey?: string;
}

export interface HttpOperation {
	method: 'GET' | 'POST';
	path: string;
	headers?: Record<string, string>;
	/** A fresh body per attempt: a FormData or stream cannot be sent twice. */
	body?: () => string | Buffer | FormData;
	/** Time allowed until the response headers arrive (the provider's thinking time). */
	headersTimeoutMs: number;
	/** Longest silence while the body streams in. */
	bodyTimeoutMs: number;
	/** Whole-operation deadline, body included, against a server that trickles bytes forever. */
	totalTimeoutMs: number;
	maxResponseBytes: number;
	signal?: AbortSignal;
	/** Told the request's place in the queue while it waits for the limiter. */
	onQueued?: (position: number) => void;
	/** Told when the request leaves the queue and is sent. */
	onStarted?: () => void;
}

export interface HttpResponse {
	status: number;
	headers: Record<string, string | undefined>;
	body: Buffer;
}

export type HttpOutcome = { ok: true; response: HttpResponse } | { ok: false; failure: GenerationFailure };

/** The longest wait between two asks of a full shared window (another process's request may end sooner). */
const SHARED_WINDOW_POLL_MS = 1000;
const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);
const RETRYABLE_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EAI_AGAIN']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

class ResponseTooLarge extends Error {}
class BodyCutOff extends Error {}

export class HttpClient {
	readonly #options: HttpClientOptions;
	readonly #pool: Pool;
	readonly #limiter: RequestLimiter;
	readonly #windowKey: string;

	public constructor(options: HttpClientOptions) {
		this.#options = options;
		this.#windowKey = createHash('sha256')
			.update(`${options.origin}\n${options.rateKey ?? ''}`)
			.digest('hex')
			.slice(0, 32);
		this.#pool = new Pool(options.origin, { connections: options.maxConcurrent, keepAliveTimeout: 30_000 });
		this.#limiter = new RequestLimiter({
			maxConcurrent: options.maxConcurrent,
			maxPerWindow: options.maxPerWindow,
			windowMs: options.windowMs
		});
	}

	/** Requests waiting for a slot right now. */
	public get queued(): number {
		return this.#limiter.queued;
	}

	public async request(operation: HttpOperation): Promise<HttpOutcome> {
		let serverErrors = 0;
		let rateLimits = 0;
		for (;;) {
			// The deadline is per attempt: waiting out a 429 or retrying a 5xx does not eat into the next try.
			const deadline = AbortSignal.timeout(operation.totalTimeoutMs);
			const signal = operation.signal ? AbortSignal.any([operation.signal, deadline]) : deadline;
			let release: (() => void) | undefined;
			let waitMs: number;
			try {
				release = await this.#limiter.acquire(operation.signal, operation.onQueued);
				const shared = await this.#sharedPlace(operation.signal);
				if (shared) {
					const local = release;
					release = () => {
						shared.end();
						local();
					};
				}
				operation.onStarted?.();
				const response = await this.#send(operation, signal);
				if (response.status === 429) {
					const advised = this.#rateLimitWait(response);
					// Waiting cannot help (no quota left): the provider explains the 429 itself.
					if (advised === null) return { ok: true, response };
					waitMs = advised ?? this.#options.defaultRateLimitWaitMs;
					if (rateLimits >= this.#options.maxRateLimitRetries || waitMs > this.#options.maxRateLimitWaitMs) {
						const seconds = Math.max(1, Math.ceil(waitMs / 1000));
						return {
							ok: false,
							failure: generationFailure('RATE_LIMITED', generationMessages.rateLimited(seconds), waitMs)
						};
					}
					rateLimits++;
				} else if (RETRYABLE_STATUS.has(response.status) && serverErrors < this.#options.maxRetries) {
					serverErrors++;
					waitMs = this.#backoff(serverErrors);
				} else {
					return { ok: true, response };
				}
			} catch (error) {
				if (operation.signal?.aborted) return { ok: false, failure: generationFailure('TIMEOUT', generationMessages.cancelled) };
				if (deadline.aborted || TIMEOUT_CODES.has(errorCode(error))) {
					return { ok: false, failure: generationFailure('TIMEOUT', generationMessages.timeout) };
				}
				// A body cut off after a success was generated (and perhaps charged): sending again could charge twice.
				if (error instanceof ResponseTooLarge || error instanceof BodyCutOff) {
					return { ok: false, failure: generationFailure('PROVIDER_ERROR', generationMessages.providerError) };
				}
				if (!RETRYABLE_NETWORK.has(errorCode(error)) || serverErrors >= this.#options.maxRetries) {
					return { ok: false, failure: generationFailure('UNAVAILABLE', generationMessages.unavailable) };
				}
				serverErrors++;
				waitMs = this.#backoff(serverErrors);
			} finally {
				release?.();
			}
			try {
				await sleep(waitMs, undefined, operation.signal ? { signal: operation.signal } : undefined);
			} catch {
				return { ok: false, failure: generationFailure('TIMEOUT', generationMessages.cancelled) };
			}
		}
	}

	/**
	 * A place in the shared window, waiting for one while it is full (the local queue stays behind this request, so the
	 * positions users see stay in order). A window that cannot be reached is skipped: this process's own window
	 * still holds, and the ledger being down stops the jobs before they get here anyway.
	 */
	async #sharedPlace(signal: AbortSignal | undefined): Promise<WindowPlace | null> {
		const window = this.#options.sharedWindows?.(this.#windowKey, this.#options.maxPerWindow, this.#options.windowMs);
		if (!window) return null;
		for (;;) {
			let answer: WindowPlace | number;
			try {
				answer = await window.claim();
			} catch {
				return null;
			}
			if (typeof answer !== 'number') return answer;
			await sleep(Math.min(answer, SHARED_WINDOW_POLL_MS), undefined, signal ? { signal } : undefined);
		}
	}

	async #send(operation: HttpOperation, signal: AbortSignal): Promise<HttpResponse> {
		const response = await this.#pool.request({
			method: operation.method,
			path: operation.path,
			headers: operation.headers,
			body: operation.body?.() as Dispatcher.RequestOptions['body'],
			headersTimeout: operation.headersTimeoutMs,
			bodyTimeout: operation.bodyTimeoutMs,
			signal
		});
		let body: Buffer | null;
		try {
			body = await readCapped(response.body, operation.maxResponseBytes, Number(response.headers['content-length']));
		} catch (error) {
			if (response.statusCode >= 200 && response.statusCode < 300 && RETRYABLE_NETWORK.has(errorCode(error))) throw new BodyCutOff();
			throw error;
		}
		if (body === null) throw new ResponseTooLarge();
		const headers: Record<string, string | undefined> = {};
		for (const [name, value] of Object.entries(response.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
		return { status: response.statusCode, headers, body };
	}

	#rateLimitWait(response: HttpResponse): number | null | undefined {
		return this.#options.rateLimitWait ? this.#options.rateLimitWait(response) : retryAfterMs(response.headers['retry-after']);
	}

	#backoff(attempt: number): number {
		return Math.random() * this.#options.retryBaseDelayMs * 2 ** (attempt - 1);
	}

	public async close(): Promise<void> {
		await this.#pool.close();
	}
}

function errorCode(error: unknown): string {
	const code = (error as { code?: unknown } | null)?.code;
	return typeof code === 'string' ? code : '';
}

/** Retry-After as seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
	if (!header) return undefined;
	const value = header.trim();
	if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
	// HTTP dates start with a day name; anything else ("-1", a header sent twice as "5, 5") is unreadable.
	if (!/^[A-Za-z]{3,9},? /.test(value)) return undefined;
	const date = Date.parse(value);
	return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
