import { z } from 'zod';
import { describeIssues } from '../storage/options.js';
import type { ProviderName } from './GenerationResult.js';
import type { ProviderHttpSettings } from './providers/ProviderSettings.js';

/** Durations are bounded: a typo of a few zeros must be a clear error, not a timer Node fires at once. */
const seconds = (max: number) => z.number().positive('expected a number of seconds above 0').max(max, `expected ${max} seconds or less`);
const HOUR = 3600;
const wholeNumber = (min: number, max: number) =>
	z.number().int('expected a whole number').min(min, `expected ${min} or more`).max(max, `expected ${max} or less`);

const httpSchema = z
	.object({
		/** Provider requests in flight at once; more wait in a queue whose position users see. */
		maxConcurrent: wholeNumber(1, 64).default(2),
		/** Requests started per window (Stability allows 150 per 10 s, then locks the key out for 60 s). */
		maxRequestsPerWindow: wholeNumber(1, 10_000).default(150),
		windowSeconds: seconds(HOUR).default(10),
		/** Retries after a 5xx or a dropped connection, with jittered back-off. */
		maxRetries: wholeNumber(0, 5).default(2),
		retryBaseDelayMs: wholeNumber(0, 60_000).default(500),
		/** Waits after a 429 before giving up with RATE_LIMITED. */
		maxRateLimitRetries: wholeNumber(0, 5).default(1),
		/** The longest Retry-After worth waiting for inside a job. */
		maxRateLimitWaitSeconds: seconds(HOUR).default(60),
		/** Time allowed for a generation to start answering. Default: 90 s for Stability, 300 s for a local AUTOMATIC1111. */
		generateTimeoutSeconds: seconds(HOUR).optional(),
		upscaleTimeoutSeconds: seconds(HOUR).default(60),
		/** Longest silence while an image streams in. */
		bodyTimeoutSeconds: seconds(600).default(30),
		/** Largest answer accepted from a provider. */
		maxResponseMb: z.number().positive().finite().default(40)
	})
	.strict();

export const generationOptionsSchema = z
	.object({
		/** Which provider; default: `stability` when a Stability key is set, otherwise the offline `preview`. */
		provider: z.enum(['stability', 'automatic1111', 'preview']).optional(),
		stability: z
			.object({
				apiKey: z.string().min(1).optional(),
				host: z.url({ protocol: /^https?$/ }).default('https://api.stability.ai'),
				/** v2beta (stable-image, current) or v1 (engines; maintenance only). */
				api: z.enum(['v2beta', 'v1']).default('v2beta'),
				/** v2beta text-to-image endpoint: core (3 credits), ultra (8) or sd3. */
				model: z.enum(['core', 'ultra', 'sd3']).default('core'),
				sd3Model: z.enum(['sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium', 'sd3.5-flash']).default('sd3.5-large'),
				/** v1 engine id (several were removed over time: keep it configurable). */
				engine: z
					.string()
					.regex(/^[a-z0-9.-]{1,100}$/)
					.default('stable-diffusion-xl-1024-v1-0'),
				upscaleEngine: z
					.string()
					.regex(/^[a-z0-9.-]{1,100}$/)
					.default('esrgan-v1-x2plus'),
				/** Sent as stability-client-id (helps Stability's support find your requests). */
				clientId: z.string().max(256).optional()
			})
			.strict()
			.prefault({}),
		automatic1111: z
			.object({
				host: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:7860'),
				/** For a web UI started with --api-auth user:password. */
				username: z.string().min(1).optional(),
				password: z.string().min(1).optional(),
				sampler: z.string().min(1).max(100).optional(),
				steps: wholeNumber(1, 150).default(30),
				upscaler: z.string().min(1).max(100).default('R-ESRGAN 4x+')
			})
			.strict()
			.prefault({}),
		http: httpSchema.prefault({}),
		/** Largest image a user may send for image-to-image or upscale. */
		maxInputMb: z.number().positive().finite().default(10),
		/** Largest image in pixels (a decompression bomb is refused before it is decoded). */
		maxInputMegapixels: z.number().positive().finite().default(40),
		/** Image-to-image strength when none is given. */
		defaultStrength: z.number().min(0).max(1).default(0.35),
		/**
		 * A whole job (queue, provider, save) is cancelled and refunded after this long. Default: 600 s, or longer
		 * when the provider's own time-outs need it (a generation time-out of 50 minutes gets a job of 52).
		 */
		jobTimeoutSeconds: seconds(24 * HOUR).optional(),
		/** Daily generations each kind of job uses. */
		dailyCost: z
			.object({
				textToImage: wholeNumber(0, 100).default(1),
				imageToImage: wholeNumber(0, 100).default(1),
				upscale: wholeNumber(0, 100).default(1)
			})
			.strict()
			.prefault({})
	})
	.strict();

export type GenerationOptions = z.input<typeof generationOptionsSchema>;
export type ResolvedGenerationOptions = Omit<z.output<typeof generationOptionsSchema>, 'jobTimeoutSeconds'> & {
	jobTimeoutSeconds: number;
	/** The provider in force (after the default), or null when the configured one cannot run (no key). */
	activeProvider: ProviderName;
	/** Why generation is off, when it is (e.g. IMAGE_PROVIDER=stability without a key). */
	notConfigured: string | null;
};

/** Validates the plugin's options; throws one error naming every bad field, its value and what was expected. */
export function resolveGenerationOptions(input: GenerationOptions | undefined): ResolvedGenerationOptions {
	const parsed = generationOptionsSchema.safeParse(input ?? {});
	if (!parsed.success) throw new TypeError(`Invalid generation options:\n${describeIssues(parsed.error, input)}`);
	const options = parsed.data;
	const activeProvider: ProviderName = options.provider ?? (options.stability.apiKey ? 'stability' : 'preview');
	const notConfigured =
		activeProvider === 'stability' && !options.stability.apiKey
			? 'the stability provider is selected but no Stability API key is set'
			: null;
	const providerSeconds =
		activeProvider === 'preview' ? 0 : generateTimeoutSeconds(options.http, activeProvider) + 2 * options.http.bodyTimeoutSeconds;
	const jobTimeoutSeconds = options.jobTimeoutSeconds ?? Math.max(600, providerSeconds + 60);
	return { ...options, jobTimeoutSeconds, activeProvider, notConfigured };
}

/** How long a provider may think before its answer starts: the setting, or 90 s for Stability and 300 s for a local AUTOMATIC1111. */
function generateTimeoutSeconds(http: z.output<typeof httpSchema>, provider: 'stability' | 'automatic1111'): number {
	return http.generateTimeoutSeconds ?? (provider === 'automatic1111' ? 300 : 90);
}

/** The HTTP settings of a provider, in the units the HTTP client uses. */
export function providerHttpSettings(options: ResolvedGenerationOptions, provider: 'stability' | 'automatic1111'): ProviderHttpSettings {
	const http = options.http;
	const generateSeconds = generateTimeoutSeconds(http, provider);
	return {
		maxConcurrent: http.maxConcurrent,
		maxPerWindow: http.maxRequestsPerWindow,
		windowMs: http.windowSeconds * 1000,
		maxRetries: http.maxRetries,
		retryBaseDelayMs: http.retryBaseDelayMs,
		maxRateLimitRetries: http.maxRateLimitRetries,
		maxRateLimitWaitMs: http.maxRateLimitWaitSeconds * 1000,
		defaultRateLimitWaitMs: 60_000,
		generateTimeoutMs: generateSeconds * 1000,
		upscaleTimeoutMs: http.upscaleTimeoutSeconds * 1000,
		bodyTimeoutMs: http.bodyTimeoutSeconds * 1000,
		maxResponseBytes: Math.round(http.maxResponseMb * 1024 * 1024)
	};
}
