import type { HttpClientOptions } from '../http/HttpClient.js';
import type { ProviderCall } from '../requests.js';

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

/** A health check (ImageProvider.probe) answers at once or not at all: it never waits as long as a generation. */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * The part of a request every provider fills the same way: time-outs from the settings (the whole-operation
 * deadline is the thinking time plus room for the body), the size cap, and the caller's signal and hooks.
 */
export function requestLimits(settings: ProviderHttpSettings, headersTimeoutMs: number, call: ProviderCall) {
	return {
		headersTimeoutMs,
		bodyTimeoutMs: settings.bodyTimeoutMs,
		totalTimeoutMs: headersTimeoutMs + 2 * settings.bodyTimeoutMs,
		maxResponseBytes: settings.maxResponseBytes,
		signal: call.signal,
		onQueued: call.onQueued,
		onStarted: call.onStarted
	};
}
