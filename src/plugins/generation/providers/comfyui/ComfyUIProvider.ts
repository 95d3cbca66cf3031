import { randomInt, randomUUID } from 'node:crypto';
import { Agent, FormData } from 'undici';
import {
	generationFailure,
	generationMessages,
	type GenerationFailure,
	type GenerationResult,
	type UnusedInput
} from '../../GenerationResult.js';
import { HttpClient, type HttpOperation, type HttpOutcome, type HttpResponse } from '../../http/HttpClient.js';
import { parseJsonBody } from '../../http/jsonBody.js';
import { inspectOutputImage } from '../../imageData.js';
import {
	MAX_SEED,
	type AspectRatio,
	type DecodedImage,
	type Dimensions,
	type ImageProvider,
	type ProviderCall,
	type ProviderProbe,
	type ProviderImageToImage,
	type ProviderLimits,
	type ProviderSupport,
	type ProviderTextToImage,
	type ProviderUpscale
} from '../../requests.js';
import { failureFromResponse, withoutSecrets } from '../httpFailures.js';
import { promptWithStyle } from '../promptStyle.js';
import { PROBE_TIMEOUT_MS, requestLimits, type ProviderHttpSettings } from '../ProviderSettings.js';
import { SD_MAX_SIDE, SD_MIN_SIDE, SD_SERVER_LIMITS, sdDefaultSide, stableDiffusionSize } from '../stableDiffusionSize.js';
import { chosenImage, historyOutcome, queuePlace, refusalText, type ImageRef } from './comfyMessages.js';
import { PromptWatch, type WatchOutcome } from './promptWatch.js';
import { fillWorkflow, placeholdersOf, type ComfyWorkflows, type Placeholder, type WorkflowKind } from './workflows.js';

export interface ComfyUIProviderOptions {
	/** ComfyUI's address, e.g. http://127.0.0.1:8188 (a path prefix is kept, for one behind a proxy). */
	url: string;
	/** `{{checkpoint}}`: the checkpoint file the default workflows load. */
	checkpoint: string;
	/** Sent with every request and the websocket's handshake (a proxy's token); never in a message. */
	headers: Record<string, string>;
	workflows: ComfyWorkflows;
	/** `{{steps}}` and `{{cfg}}` when the request names none. */
	steps: number;
	cfgScale: number;
	/** Side of the square made when no size is asked (512 suits SD 1.5 checkpoints, 1024 SDXL). */
	defaultSide: number;
	/**
	 * generateTimeoutMs (upscaleTimeoutMs for an upscale) is the longest ComfyUI may stay silent about a queued
	 * or running prompt; bodyTimeoutMs bounds each quick request (upload, submit, download).
	 */
	http: ProviderHttpSettings;
	/** Polling period when the websocket is unavailable (default 1 s). */
	pollIntervalMs?: number;
	/** How long the websocket may take to open before polling takes over (default 5 s). */
	connectTimeoutMs?: number;
}

const LABEL = 'ComfyUI';
const SIZE_MESSAGE = `ComfyUI (Stable Diffusion) makes images from ${SD_MIN_SIDE} to ${SD_MAX_SIDE} px a side.`;
/** Inputs are uploaded here, inside ComfyUI's input folder, so they do not mix with the owner's own files. */
const UPLOAD_SUBFOLDER = 'sapphire-imagine';
/** A websocket message larger than this (a huge preview) closes the socket; the job then polls. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Time allowed to a control request (queue, history, interrupt): small JSON answers; a cancel must not hang on a dead server. */
const CONTROL_TIMEOUT_MS = 5000;
const CONTROL_MAX_BYTES = 8 * 1024 * 1024;

const messages = {
	refused: (detail: string) =>
		`ComfyUI refused the workflow${detail ? `: ${detail}` : '.'} The bot owner has to fix the workflow or install what it needs. Nothing was charged.`,
	failed: (detail: string) => `ComfyUI failed while running the workflow: ${detail}. Nothing was charged; try again.`,
	interrupted: 'ComfyUI stopped the job before it finished (it was interrupted on the server). Nothing was charged; try again.',
	stalled: 'ComfyUI stopped reporting progress (its queue or its connection stalled). Nothing was charged; try again.',
	noImage: 'The ComfyUI workflow finished without an image (it needs a SaveImage node). Nothing was charged.',
	notImage: "ComfyUI's output is not an image. Nothing was charged; try again.",
	notComfy: 'There is no ComfyUI API at this address. The bot owner has to check the ComfyUI address.'
} as const;

/**
 * A ComfyUI server, usually on the owner's own GPU. Every job runs a workflow in API format (the shipped
 * defaults or the owner's, see workflows.ts): the input image, if any, is uploaded (`POST /upload/image`),
 * the filled workflow is queued (`POST /prompt`) under a client id of its own, its progress is followed on
 * the websocket (queue place, sampler steps; `/history` polling when there is no websocket), and the image
 * is fetched with `GET /view`. A workflow ComfyUI refuses, an `execution_error` and an output that is not an
 * image are PROVIDER_ERROR with ComfyUI's own words, cut short; silence longer than the time-out is TIMEOUT.
 * A cancelled or timed-out job's prompt is taken off the queue, or interrupted when it is already running.
 */
export class ComfyUIProvider implements ImageProvider {
	public readonly name = 'comfyui' as const;
	public readonly model: string;
	public readonly supports: ProviderSupport = { imageToImage: true, upscale: true };
	public readonly limits: ProviderLimits = SD_SERVER_LIMITS;

	readonly #options: ComfyUIProviderOptions;
	readonly #http: HttpClient;
	/** Queue, history and interrupt calls: outside the jobs' limiter, so a cancel never waits behind the work it cancels. */
	readonly #control: HttpClient;
	readonly #sockets: Agent;
	readonly #basePath: string;
	readonly #socketUrl: string;
	readonly #headers: Record<string, string>;
	readonly #secrets: string[];
	readonly #defaultSide: number;

	public constructor(options: ComfyUIProviderOptions) {
		this.#options = options;
		const url = new URL(options.url);
		this.#basePath = url.pathname.replace(/\/+$/, '');
		this.#socketUrl = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}${this.#basePath}/ws`;
		this.#headers = { ...options.headers };
		// user:password in the address works as for a browser: as HTTP Basic auth, unless a header sets its own.
		if (url.username && !Object.keys(this.#headers).some((name) => name.toLowerCase() === 'authorization')) {
			const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
			this.#headers.authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
		}
		this.#secrets = [...Object.values(this.#headers), decodeURIComponent(url.password)].filter((value) => value.length > 0);
		this.#http = new HttpClient({ ...options.http, origin: url.origin });
		this.#control = new HttpClient({
			origin: url.origin,
			maxConcurrent: 2,
			maxPerWindow: 10_000,
			windowMs: 1000,
			maxRetries: 0,
			retryBaseDelayMs: 0,
			maxRateLimitRetries: 0,
			maxRateLimitWaitMs: 0,
			defaultRateLimitWaitMs: 0
		});
		this.#sockets = new Agent({ webSocket: { maxPayloadSize: MAX_MESSAGE_BYTES } });
		this.#defaultSide = sdDefaultSide(options.defaultSide);
		this.model = options.checkpoint;
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		return stableDiffusionSize(asked, this.#defaultSide, SIZE_MESSAGE);
	}

	public async textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		const seed = seedFor(request.seed);
		return this.#run(
			'text-to-image',
			{ ...this.#promptValues(request, seed), width: request.size.width, height: request.size.height },
			{ seed, negativePrompt: request.negativePrompt },
			call
		);
	}

	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		const uploaded = await this.#upload(request.image, call);
		if (!uploaded.ok) return uploaded;
		const seed = seedFor(request.seed);
		return this.#run(
			'image-to-image',
			{ ...this.#promptValues(request, seed), image: uploaded.name, strength: request.strength },
			{ seed, negativePrompt: request.negativePrompt },
			call
		);
	}

	/** The shipped workflow doubles the size; whatever comes back, ImageGenerator resizes it to exactly what was asked. */
	public async upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		const uploaded = await this.#upload(request.image, call);
		if (!uploaded.ok) return uploaded;
		return this.#run('upscale', { image: uploaded.name, checkpoint: this.#options.checkpoint }, { seed: 0 }, call);
	}

	/**
	 * `GET /system_stats`: answered by every ComfyUI (behind its proxy, with the extra headers) and cheap; it also
	 * says what the server runs on. It does not prove the checkpoint exists: a workflow that names a missing one is
	 * refused with ComfyUI's own message at the first job.
	 */
	public async probe(call: ProviderCall): Promise<ProviderProbe> {
		const outcome = await this.#send(this.#control, {
			method: 'GET',
			path: '/system_stats',
			...requestLimits(this.#options.http, PROBE_TIMEOUT_MS, call)
		});
		if (!outcome.ok) return this.#safe(outcome.failure);
		const { response } = outcome;
		if (response.status !== 200) return this.#safe(this.#statusFailure(response.status, response));
		const stats = parseJsonBody(response.body) as { system?: { comfyui_version?: unknown }; devices?: { name?: unknown }[] } | undefined;
		if (!stats || typeof stats !== 'object' || !('system' in stats)) return generationFailure('PROVIDER_ERROR', messages.notComfy);
		const version = typeof stats.system?.comfyui_version === 'string' ? ` ${stats.system.comfyui_version}` : '';
		const device = typeof stats.devices?.[0]?.name === 'string' ? ` on ${String(stats.devices[0].name).slice(0, 80)}` : '';
		return { ok: true, detail: `ComfyUI${version} answers${device}` };
	}

	public async close(): Promise<void> {
		await Promise.all([this.#http.close(), this.#control.close(), this.#sockets.close()]);
	}

	#promptValues(request: Omit<ProviderTextToImage, 'size'>, seed: number): Partial<Record<Placeholder, string | number>> {
		return {
			prompt: promptWithStyle(request.prompt, request.stylePreset),
			negative_prompt: request.negativePrompt ?? '',
			seed,
			steps: request.steps ?? this.#options.steps,
			cfg: request.cfgScale ?? this.#options.cfgScale,
			checkpoint: this.#options.checkpoint
		};
	}

	/** Queues the filled workflow, follows it, and fetches its image. */
	async #run(
		kind: WorkflowKind,
		values: Partial<Record<Placeholder, string | number>>,
		asked: { seed: number; negativePrompt?: string },
		call: ProviderCall
	): Promise<GenerationResult> {
		const template = this.#options.workflows[kind];
		const used = placeholdersOf(template);
		const workflow = fillWorkflow(template, values);
		const clientId = randomUUID();
		const watch = await PromptWatch.open({
			url: `${this.#socketUrl}?clientId=${clientId}`,
			headers: this.#headers,
			dispatcher: this.#sockets,
			connectTimeoutMs: this.#options.connectTimeoutMs ?? 5000
		});
		try {
			const submitted = await this.#submit(workflow, clientId, call);
			if (!submitted.ok) return submitted;
			const promptId = submitted.promptId;
			const outcome = await watch.follow({
				promptId,
				stallMs: kind === 'upscale' ? this.#options.http.upscaleTimeoutMs : this.#options.http.generateTimeoutMs,
				pollIntervalMs: this.#options.pollIntervalMs ?? 1000,
				readQueue: async () => {
					const answer = await this.#controlJson('GET', '/queue');
					return answer === undefined ? null : queuePlace(answer, promptId);
				},
				readHistory: async () => {
					const answer = await this.#controlJson('GET', `/history/${encodeURIComponent(promptId)}`);
					return answer === undefined ? null : historyOutcome(answer, promptId);
				},
				signal: call.signal,
				onQueued: call.onQueued,
				onStarted: call.onStarted,
				onProgress: call.onProgress
			});
			const image = await this.#imageOf(outcome, promptId);
			if (!image.ok) return this.#safe(image);
			const data = await this.#download(image.ref, call);
			if (!data.ok) return this.#safe(data);
			const output = await inspectOutputImage(data.bytes);
			if (!output) return generationFailure('PROVIDER_ERROR', messages.notImage);
			const unusedInputs: UnusedInput[] = asked.negativePrompt && !used.has('negative_prompt') ? ['negativePrompt'] : [];
			return {
				ok: true,
				image: {
					data: data.bytes,
					...output,
					seed: used.has('seed') ? asked.seed : 0,
					provider: this.name,
					model: used.has('checkpoint') ? this.#options.checkpoint : `${kind} workflow`,
					preview: false,
					...(unusedInputs.length > 0 ? { unusedInputs } : {})
				}
			};
		} finally {
			watch.close();
		}
	}

	/** The image a finished prompt made; a failure for every other ending (and the prompt is withdrawn when it may still run). */
	async #imageOf(outcome: WatchOutcome, promptId: string): Promise<{ ok: true; ref: ImageRef } | GenerationFailure> {
		switch (outcome.kind) {
			case 'cancelled':
				await this.#withdraw(promptId);
				return generationFailure('TIMEOUT', generationMessages.cancelled);
			case 'stalled':
				await this.#withdraw(promptId);
				return generationFailure('TIMEOUT', messages.stalled);
			case 'error':
				return generationFailure('PROVIDER_ERROR', messages.failed(outcome.message));
			case 'interrupted':
				return generationFailure('PROVIDER_ERROR', messages.interrupted);
			case 'done': {
				// Outputs of cached nodes are not always sent on the websocket: the history has them all.
				let images = outcome.images;
				if (images.length === 0) {
					const history = await this.#controlJson('GET', `/history/${encodeURIComponent(promptId)}`);
					const entry = history === undefined ? null : historyOutcome(history, promptId);
					images = entry?.done ? entry.images : [];
				}
				const ref = chosenImage(images);
				return ref ? { ok: true, ref } : generationFailure('PROVIDER_ERROR', messages.noImage);
			}
		}
	}

	async #upload(image: DecodedImage, call: ProviderCall): Promise<{ ok: true; name: string } | GenerationFailure> {
		const outcome = await this.#send(this.#http, {
			method: 'POST',
			path: '/upload/image',
			body: () => {
				const form = new FormData();
				form.append('image', new Blob([image.data], { type: 'image/png' }), `${randomUUID()}.png`);
				form.append('type', 'input');
				form.append('subfolder', UPLOAD_SUBFOLDER);
				form.append('overwrite', 'true');
				return form;
			},
			...this.#quick(call)
		});
		if (!outcome.ok) return this.#safe(outcome.failure);
		const { response } = outcome;
		if (response.status !== 200) return this.#safe(this.#statusFailure(response.status, response));
		const answer = parseJsonBody(response.body) as { name?: unknown; subfolder?: unknown } | undefined;
		if (typeof answer?.name !== 'string' || answer.name === '')
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		const subfolder = typeof answer.subfolder === 'string' ? answer.subfolder : '';
		// LoadImage names a file in a subfolder of the input folder as "subfolder/name".
		return { ok: true, name: subfolder ? `${subfolder}/${answer.name}` : answer.name };
	}

	async #submit(workflow: unknown, clientId: string, call: ProviderCall): Promise<{ ok: true; promptId: string } | GenerationFailure> {
		const body = JSON.stringify({ prompt: workflow, client_id: clientId });
		const outcome = await this.#send(this.#http, {
			method: 'POST',
			path: '/prompt',
			headers: { 'content-type': 'application/json' },
			body: () => body,
			...this.#quick(call)
		});
		if (!outcome.ok) return this.#safe(outcome.failure);
		const { response } = outcome;
		if (response.status === 400) {
			return this.#safe(generationFailure('PROVIDER_ERROR', messages.refused(refusalText(parseJsonBody(response.body)))));
		}
		if (response.status !== 200) return this.#safe(this.#statusFailure(response.status, response));
		const answer = parseJsonBody(response.body) as { prompt_id?: unknown } | undefined;
		if (typeof answer?.prompt_id !== 'string' || answer.prompt_id === '') {
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		}
		return { ok: true, promptId: answer.prompt_id };
	}

	async #download(ref: ImageRef, call: ProviderCall): Promise<{ ok: true; bytes: Buffer } | GenerationFailure> {
		const query = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
		const outcome = await this.#send(this.#http, { method: 'GET', path: `/view?${query.toString()}`, ...this.#quick(call) });
		if (!outcome.ok) return outcome.failure;
		// The image ComfyUI itself just named is not there: nothing the user or the owner can fix from here.
		if (outcome.response.status !== 200) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		return { ok: true, bytes: outcome.response.body };
	}

	/**
	 * Takes a prompt that should no longer run off ComfyUI: deleted from the queue while it waits, interrupted
	 * once it runs (with its id, so a ComfyUI that knows which prompt runs never stops another one).
	 * Best effort, bounded in time: the job's answer does not wait on a server that is gone.
	 */
	async #withdraw(promptId: string): Promise<void> {
		const queue = await this.#controlJson('GET', '/queue');
		const place = queue === undefined ? null : queuePlace(queue, promptId);
		if (place?.state === 'running') await this.#controlJson('POST', '/interrupt', { prompt_id: promptId });
		else await this.#controlJson('POST', '/queue', { delete: [promptId] });
	}

	/** A control request's JSON answer; undefined on any failure (they are best effort). */
	async #controlJson(method: 'GET' | 'POST', path: string, payload?: unknown): Promise<unknown> {
		const body = payload === undefined ? undefined : JSON.stringify(payload);
		const outcome = await this.#send(this.#control, {
			method,
			path,
			...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: () => body }),
			headersTimeoutMs: CONTROL_TIMEOUT_MS,
			bodyTimeoutMs: CONTROL_TIMEOUT_MS,
			totalTimeoutMs: CONTROL_TIMEOUT_MS,
			maxResponseBytes: CONTROL_MAX_BYTES
		});
		if (!outcome.ok || outcome.response.status !== 200) return undefined;
		return outcome.response.body.length === 0 ? {} : parseJsonBody(outcome.response.body);
	}

	#send(client: HttpClient, operation: HttpOperation): Promise<HttpOutcome> {
		return client.request({
			...operation,
			path: this.#basePath + operation.path,
			headers: { accept: 'application/json', ...this.#headers, ...operation.headers }
		});
	}

	/** Limits of a quick request (upload, submit, download). The job starts when ComfyUI says so, not when a request leaves. */
	#quick(call: ProviderCall) {
		const { bodyTimeoutMs, maxResponseBytes } = this.#options.http;
		return {
			headersTimeoutMs: bodyTimeoutMs,
			bodyTimeoutMs,
			totalTimeoutMs: 3 * bodyTimeoutMs,
			maxResponseBytes,
			signal: call.signal,
			onQueued: call.onQueued
		};
	}

	#statusFailure(status: number, response: HttpResponse): GenerationFailure {
		// ComfyUI answers 404 on routes it does not have: this is not ComfyUI (or the path prefix is wrong).
		if (status === 404 || status === 405) return generationFailure('PROVIDER_ERROR', messages.notComfy);
		return failureFromResponse(response, LABEL);
	}

	/** No header value (a proxy's token) ever reaches a message, whatever a server echoes. */
	#safe(failure: GenerationFailure): GenerationFailure {
		return withoutSecrets(failure, this.#secrets);
	}
}

/** ComfyUI has no "random" seed value: pick one, so the result can say which was used. */
function seedFor(asked: number): number {
	return asked > 0 ? asked : randomInt(1, MAX_SEED);
}
