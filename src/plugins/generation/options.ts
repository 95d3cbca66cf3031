import { creditCostsSchema } from './creditCosts.js';
import { z } from 'zod';
import { describeIssues } from '../storage/options.js';
import { BUILT_IN_PROVIDERS, type BuiltInProviderName, type ProviderName } from './GenerationResult.js';
import type { SharedRateWindows } from './http/SharedRateWindow.js';
import { isImageProvider, type ImageProvider } from './requests.js';
import { extraHeaderProblems } from './http/extraHeaders.js';
import { loadWorkflowFolder, workflowSet, WorkflowError, type ComfyWorkflows } from './providers/comfyui/workflows.js';
import type { ProviderHttpSettings } from './providers/ProviderSettings.js';

/** Durations are bounded: a typo of a few zeros must be a clear error, not a timer Node fires at once. */
const seconds = (max: number) => z.number().positive('expected a number of seconds above 0').max(max, `expected ${max} seconds or less`);
const HOUR = 3600;
const wholeNumber = (min: number, max: number) =>
	z.number().int('expected a whole number').min(min, `expected ${min} or more`).max(max, `expected ${max} or less`);

/** Extra headers: checked as a whole, so an error names a header and never prints its value. */
const extraHeadersSchema = z.record(z.string(), z.unknown()).superRefine((headers, ctx) => {
	for (const message of extraHeaderProblems(headers)) ctx.addIssue({ code: 'custom', message });
}) as unknown as z.ZodType<Record<string, string>, Record<string, string>>;

const httpSchema = z
	.object({
		/**
		 * HTTP requests in flight at once. Default: `concurrency` (a generation is one request). Set it apart only
		 * for a provider that makes several requests per job.
		 */
		maxConcurrent: wholeNumber(1, 64).optional(),
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
		/**
		 * Time allowed for a generation to start answering (for ComfyUI: the longest silence of its queue and
		 * progress messages). Default: 90 s for Stability, 180 s for OpenAI, 300 s for a local AUTOMATIC1111 or ComfyUI.
		 */
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
		provider: z
			.union([z.enum(BUILT_IN_PROVIDERS), z.custom<ImageProvider>(isImageProvider)], {
				error: `expected one of ${BUILT_IN_PROVIDERS.join(', ')}, or an object implementing ImageProvider (its name not a built-in one)`
			})
			.optional(),
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
		comfyui: z
			.object({
				url: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8188'),
				/** `{{checkpoint}}` of the default workflows: a file in ComfyUI's models/checkpoints. */
				checkpoint: z
					.string()
					.min(1)
					.max(500)
					.regex(/^[^\r\n\0]+$/, 'expected a file name on one line')
					.default('v1-5-pruned-emaonly.safetensors'),
				/** A folder holding text-to-image.json, image-to-image.json and/or upscale.json (API format) to use instead of the defaults. */
				workflowsDir: z.string().min(1).optional(),
				/** Sent with every request and the websocket handshake, e.g. a proxy's token. Never logged. */
				headers: extraHeadersSchema.default({}),
				steps: wholeNumber(1, 150).default(20),
				cfgScale: z.number().min(0).max(35).default(7),
				/** Side of the square made when no size is asked (512 suits SD 1.5 checkpoints, 1024 SDXL ones). */
				defaultSide: wholeNumber(64, 2048).default(512)
			})
			.strict()
			.prefault({}),
		openai: z
			.object({
				/** Needed for api.openai.com; a compatible server elsewhere may need none. */
				apiKey: z.string().min(1).optional(),
				/** Includes the version path, as the official SDK's does. */
				baseUrl: z.url({ protocol: /^https?$/ }).default('https://api.openai.com/v1'),
				model: z
					.string()
					.regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/, 'expected a model name such as gpt-image-1 or dall-e-3')
					.default('gpt-image-1'),
				/** gpt-image: low, medium, high or auto; dall-e-3: standard or hd. The API's default when absent. */
				quality: z.enum(['auto', 'low', 'medium', 'high', 'standard', 'hd']).optional()
			})
			.strict()
			.prefault({}),
		/**
		 * Generations the provider works on at once, whichever it is (the offline preview included); more wait in a
		 * queue whose position users see. A job that waits longer than `jobTimeoutSeconds` is cancelled and refunded.
		 */
		concurrency: wholeNumber(1, 64).default(2),
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
		/**
		 * Provider credits per job, `{ "<provider>": { "<text-to-image|image-to-image|upscale>": credits } }`, over the
		 * defaults (Stability's price table; other providers 0). Charged against the storage's daily credit budgets.
		 */
		creditCosts: creditCostsSchema.default({}),
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
	/** The provider in force (after the default): a built-in name, or the name of the bot's own provider. */
	activeProvider: ProviderName;
	/** The bot's own provider, when `provider` is an object. */
	customProvider: ImageProvider | null;
	/** Why generation is off, when it is (e.g. IMAGE_PROVIDER=stability without a key). */
	notConfigured: string | null;
	/** ComfyUI's workflows: the shipped defaults, replaced by the files of `comfyui.workflowsDir` where it has them. */
	comfyuiWorkflows: ComfyWorkflows;
};

/** Validates the plugin's options; throws one error naming every bad field, its value and what was expected. */
export function resolveGenerationOptions(input: GenerationOptions | undefined): ResolvedGenerationOptions {
	const parsed = generationOptionsSchema.safeParse(input ?? {});
	if (!parsed.success) throw new TypeError(`Invalid generation options:\n${describeIssues(parsed.error, input)}`);
	const options = parsed.data;
	const customProvider = typeof options.provider === 'object' ? options.provider : null;
	const builtIn: BuiltInProviderName | null = customProvider
		? null
		: ((options.provider as BuiltInProviderName | undefined) ?? (options.stability.apiKey ? 'stability' : 'preview'));
	const activeProvider: ProviderName = customProvider ? customProvider.name : (builtIn as BuiltInProviderName);
	// A bot's own provider keeps its own time-outs; the job gets the default 600 s unless jobTimeoutSeconds says more.
	const providerSeconds =
		builtIn === null || builtIn === 'preview' ? 0 : generateTimeoutSeconds(options.http, builtIn) + 2 * options.http.bodyTimeoutSeconds;
	const jobTimeoutSeconds = options.jobTimeoutSeconds ?? Math.max(600, providerSeconds + 60);
	return {
		...options,
		jobTimeoutSeconds,
		activeProvider,
		customProvider,
		notConfigured: builtIn === null ? null : whyNotConfigured(options, builtIn),
		comfyuiWorkflows: comfyuiWorkflows(options)
	};
}

/**
 * A generation's default time-out per provider: a hosted API answers within 90 s (Stability) or a few minutes
 * (OpenAI's gpt-image at high quality); a local GPU may take minutes (and for ComfyUI the time-out is the longest
 * silence of its queue, which moves only as other prompts finish).
 */
const DEFAULT_GENERATE_SECONDS = { stability: 90, openai: 180, automatic1111: 300, comfyui: 300 } as const;

/** How long a provider may think before its answer starts: the setting, or the provider's default. */
function generateTimeoutSeconds(http: z.output<typeof httpSchema>, provider: keyof typeof DEFAULT_GENERATE_SECONDS): number {
	return http.generateTimeoutSeconds ?? DEFAULT_GENERATE_SECONDS[provider];
}

function whyNotConfigured(options: z.output<typeof generationOptionsSchema>, provider: BuiltInProviderName): string | null {
	if (provider === 'stability' && !options.stability.apiKey) return 'the stability provider is selected but no Stability API key is set';
	// OpenAI itself needs a key; a compatible server at another address may not.
	if (provider === 'openai' && !options.openai.apiKey && new URL(options.openai.baseUrl).hostname === 'api.openai.com') {
		return 'the openai provider is selected but no OpenAI API key is set';
	}
	return null;
}

/** The owner's workflow files are read and checked here, at start-up, so a broken one stops the bot with its name. */
function comfyuiWorkflows(options: z.output<typeof generationOptionsSchema>): ComfyWorkflows {
	const dir = options.comfyui.workflowsDir;
	if (dir === undefined) return workflowSet();
	try {
		return workflowSet(loadWorkflowFolder(dir));
	} catch (error) {
		if (error instanceof WorkflowError) throw new TypeError(`Invalid generation options:\n- comfyui.workflowsDir: ${error.message}`);
		throw error;
	}
}

/** The HTTP settings of a provider, in the units the HTTP client uses. */
export function providerHttpSettings(
	options: ResolvedGenerationOptions,
	provider: keyof typeof DEFAULT_GENERATE_SECONDS,
	sharedWindows?: SharedRateWindows
): ProviderHttpSettings {
	const http = options.http;
	const generateSeconds = generateTimeoutSeconds(http, provider);
	return {
		maxConcurrent: http.maxConcurrent ?? options.concurrency,
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
		maxResponseBytes: Math.round(http.maxResponseMb * 1024 * 1024),
		...(sharedWindows ? { sharedWindows } : {})
	};
}
