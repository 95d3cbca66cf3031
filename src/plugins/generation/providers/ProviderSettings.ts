import type { HttpClientOptions } from '../http/HttpClient.js';

/** How a provider's HTTP behaves: the client's limits plus time-outs per kind of operation. */
export interface ProviderHttpSettings extends Omit<HttpClientOptions, 'origin'> {
	/** Time allowed for a generation's response headers (the provider's thinking time). */
	generateTimeoutMs: number;
	/** Time allowed for an upscale's response headers. */
	upscaleTimeoutMs: number;
	/** Longest silence while a response body streams in. */
	bodyTimeoutMs: number;
	/** Largest response accepted; anything bigger is cut off and reported as a provider error. */
	maxResponseBytes: number;
}

/** The whole-operation deadline: thinking time plus room for the body to arrive. */
export function totalTimeout(headersTimeoutMs: number, settings: ProviderHttpSettings): number {
	return headersTimeoutMs + 2 * settings.bodyTimeoutMs;
}
