import { generationFailure, type GenerationFailure, type GenerationResult } from '../../GenerationResult.js';
import { HttpClient, type HttpOperation } from '../../http/HttpClient.js';
import type { ProviderCall, ProviderProbe } from '../../requests.js';
import { failureFromResponse, withoutSecrets } from '../httpFailures.js';
import { PROBE_TIMEOUT_MS, requestLimits, type ProviderHttpSettings } from '../ProviderSettings.js';
import { decodeStabilityResponse } from './stabilityResponse.js';

export const LABEL = 'Stability AI';

export interface StabilityClientOptions {
	apiKey: string;
	/** e.g. https://api.stability.ai; a path prefix (a proxy) is kept. */
	host: string;
	/** What the API answers in: v1 image/png or JSON, v2beta the format the request's output_format asks. */
	accept: string;
	/** Sent as stability-client-id. */
	clientId?: string;
	http: ProviderHttpSettings;
}

/** One generation call: where, what, and what the answer is recorded as. */
export interface StabilityCall {
	path: string;
	body: NonNullable<HttpOperation['body']>;
	/** Beyond the authorisation and Accept headers every call sends. */
	headers?: Record<string, string>;
	/** Recorded as the image's model. */
	model: string;
	/** The seed asked for: the image's seed when the answer names none. */
	requestedSeed: number;
	/** How long the API may take to answer (generations and upscales differ). */
	headersTimeoutMs: number;
	call: ProviderCall;
}

/**
 * The HTTP side both Stability APIs share: the key sent only in the Authorization header and scrubbed from every
 * message that leaves, a non-2xx answer through `failureFromResponse`, and one decoding of the image answers.
 */
export class StabilityClient {
	readonly #options: StabilityClientOptions;
	readonly #http: HttpClient;
	readonly #prefix: string;

	public constructor(options: StabilityClientOptions) {
		this.#options = options;
		const url = new URL(options.host);
		this.#prefix = url.pathname.replace(/\/+$/, '');
		this.#http = new HttpClient({ ...options.http, origin: url.origin, rateKey: options.apiKey });
	}

	public async generate(request: StabilityCall): Promise<GenerationResult> {
		const outcome = await this.#http.request({
			method: 'POST',
			path: this.#prefix + request.path,
			headers: { ...this.#headers(), ...request.headers },
			body: request.body,
			...requestLimits(this.#options.http, request.headersTimeoutMs, request.call)
		});
		if (!outcome.ok) return this.#scrub(outcome.failure);
		const { response } = outcome;
		if (response.status !== 200) return this.#scrub(failureFromResponse(response, LABEL));
		const decoded = await decodeStabilityResponse(response.body, response.headers, request.requestedSeed);
		if (!decoded.ok) return decoded;
		const { data, width, height, mimeType, seed } = decoded;
		return { ok: true, image: { data, width, height, mimeType, seed, provider: 'stability', model: request.model, preview: false } };
	}

	/**
	 * `GET /v1/user/balance`: authenticated, free, and it says how many credits are left. It serves every key,
	 * whichever API (v1 or v2beta) the generations use.
	 */
	public async probe(call: ProviderCall): Promise<ProviderProbe> {
		const outcome = await this.#http.request({
			method: 'GET',
			path: `${this.#prefix}/v1/user/balance`,
			headers: { ...this.#headers(), Accept: 'application/json' },
			...requestLimits(this.#options.http, PROBE_TIMEOUT_MS, call)
		});
		if (!outcome.ok) return this.#scrub(outcome.failure);
		const { response } = outcome;
		if (response.status === 404) {
			return generationFailure('PROVIDER_ERROR', `${LABEL} has no account endpoint at this address: API_HOST is not Stability's API.`);
		}
		if (response.status !== 200) return this.#scrub(failureFromResponse(response, LABEL));
		const credits = balanceOf(response.body);
		if (credits === undefined) {
			return generationFailure('PROVIDER_ERROR', `${LABEL} answered the balance request with something else than a balance.`);
		}
		return { ok: true, detail: `key accepted; ${formatCredits(credits)} credits left`, credits };
	}

	public async close(): Promise<void> {
		await this.#http.close();
	}

	#headers(): Record<string, string> {
		const headers: Record<string, string> = { Authorization: `Bearer ${this.#options.apiKey}`, Accept: this.#options.accept };
		if (this.#options.clientId) headers['stability-client-id'] = this.#options.clientId.slice(0, 256);
		return headers;
	}

	/** The provider's error text is passed on for 400/422: make sure it never carries our key back. */
	#scrub(failure: GenerationFailure): GenerationFailure {
		return withoutSecrets(failure, [this.#options.apiKey]);
	}
}

/** `{ "credits": 12.5 }`, or undefined for anything else. */
function balanceOf(body: Buffer): number | undefined {
	try {
		const parsed = JSON.parse(body.toString('utf8')) as { credits?: unknown } | null;
		return typeof parsed?.credits === 'number' && Number.isFinite(parsed.credits) ? parsed.credits : undefined;
	} catch {
		return undefined;
	}
}

function formatCredits(credits: number): string {
	return (Math.floor(credits * 100) / 100).toString();
}
