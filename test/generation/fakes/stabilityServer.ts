import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer, readBody } from './loopbackServer.js';
import sharp from 'sharp';
import { Request } from 'undici';
import { pngImage } from './images.js';

/**
 * A Stability AI stand-in on 127.0.0.1 that speaks the documented wire formats (v2beta stable-image and
 * v1 generation) and checks what arrives: the key, the Accept header, the multipart field names and
 * values, the JSON body, the image parts (decoded with sharp). What it refuses is recorded in
 * `problems` and answered the way Stability would (400/401/404/413), so a happy-path test can assert
 * the list stays empty. Faults are scripted per request, in order.
 *
 * It enforces the documented rate limit too: past 150 requests within 10 seconds it answers 429, and then
 * keeps answering 429 for a 60-second lock-out. Requests are counted as they arrive. Tests may scale the
 * window down (`rateLimit`), keeping the rule.
 */

export const STABILITY_TEST_KEY = 'sk-TEST0123456789abcdefSECRETkey';

export const KNOWN_ENGINES = ['stable-diffusion-xl-1024-v1-0', 'stable-diffusion-v1-6', 'stable-diffusion-768-v2-1', 'esrgan-v1-x2plus'];

const ASPECT_SIZES: Record<string, [number, number]> = {
	'21:9': [1536, 640],
	'16:9': [1344, 768],
	'3:2': [1216, 832],
	'5:4': [1088, 896],
	'1:1': [1024, 1024],
	'4:5': [896, 1088],
	'2:3': [832, 1216],
	'9:16': [768, 1344],
	'9:21': [640, 1536]
};
const SDXL_SIZES = new Set(['1024x1024', '1152x896', '1216x832', '1344x768', '1536x640', '896x1152', '832x1216', '768x1344', '640x1536']);
const STYLE_PRESETS = new Set([
	'3d-model',
	'analog-film',
	'anime',
	'cinematic',
	'comic-book',
	'digital-art',
	'enhance',
	'fantasy-art',
	'isometric',
	'line-art',
	'low-poly',
	'modeling-compound',
	'neon-punk',
	'origami',
	'photographic',
	'pixel-art',
	'tile-texture'
]);
const SD3_MODELS = new Set(['sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium', 'sd3.5-flash']);
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const RANDOM_SEED = 1_234_567;

export type StabilityFault =
	/** A JSON error in the API's shape (`{ id, name, errors }` on v2beta, `{ id, name, message }` on v1). */
	| { kind: 'error'; status: number; name: string; message: string }
	| { kind: 'rateLimit'; retryAfter?: string }
	/** Reads the request, never answers. */
	| { kind: 'noHeaders' }
	/** Answers normally, `ms` after the request arrived (a generation that takes its time). */
	| { kind: 'slow'; ms: number }
	/** Sends the headers and half the image, then goes silent. */
	| { kind: 'stallBody' }
	/** Declares a longer content-length than it sends, then closes the socket. */
	| { kind: 'cutConnection' }
	/** An honest content-length, but the PNG inside stops half-way. */
	| { kind: 'truncatedImage' }
	/** A body of `bytes` bytes, with or without a content-length saying so. */
	| { kind: 'oversize'; bytes: number; declareLength: boolean }
	/** 200 with image/png that is an HTML page. */
	| { kind: 'notImage' }
	/** A blurred image marked CONTENT_FILTERED (header for bytes, field for JSON). */
	| { kind: 'filtered'; format?: 'bytes' | 'json' }
	/** A finish reason other than SUCCESS (e.g. v1's ERROR). */
	| { kind: 'finish'; reason: string; format?: 'bytes' | 'json' }
	/** Answers JSON (base64 image) although the client asked for bytes. */
	| { kind: 'json' };

export interface FilePart {
	filename: string;
	type: string;
	bytes: number;
	width: number;
	height: number;
	format: string;
}

export interface RecordedRequest {
	method: string;
	path: string;
	headers: IncomingHttpHeaders;
	/** Multipart fields (files summarised), or the JSON body's top-level fields. */
	fields: Record<string, string | FilePart>;
	json?: unknown;
	bodyBytes: number;
	/** What the fake refused in this request. */
	problems: string[];
	/** True when the client went away before the answer was complete. */
	aborted: boolean;
}

export interface StabilityServerOptions {
	apiKey?: string;
	engines?: string[];
	/** The rate limit in force. Default Stability's: 150 requests in 10 s, then a 60 s lock-out. */
	rateLimit?: RateLimitRule;
	/** What `GET /v1/user/balance` answers (default 25). */
	credits?: number;
}

export interface RateLimitRule {
	maxRequests: number;
	windowMs: number;
	lockoutMs: number;
}

/** "150 requests within a 10 second period", then "a 60 second timeout" (Stability's rate limit documentation). */
export const STABILITY_RATE_LIMIT: RateLimitRule = { maxRequests: 150, windowMs: 10_000, lockoutMs: 60_000 };

/** v1's account routes (Stability's v1 spec, tag v1/user): authenticated GETs that generate and charge nothing. */
const ACCOUNT_ROUTES = new Set(['/v1/user/balance', '/v1/user/account']);

type Api = 'v2beta' | 'v1';
interface Route {
	api: Api;
	kind: 'generate' | 'upscale-fast' | 'v1-text' | 'v1-image' | 'v1-upscale';
	endpoint?: string;
	engine?: string;
}
interface Answer {
	width: number;
	height: number;
	seed: number;
}

export class FakeStabilityServer {
	public readonly requests: RecordedRequest[] = [];
	/** The balance `GET /v1/user/balance` reports; set it to script a low balance. */
	public credits: number;
	#server: LoopbackServer | null = null;
	readonly #onRequest: (request: IncomingMessage, response: ServerResponse) => void;
	readonly #faults: StabilityFault[] = [];
	readonly #apiKey: string;
	readonly #engines: Set<string>;
	readonly #rateLimit: RateLimitRule;
	/** When each request arrived (performance.now()), for the window and for throughput figures. */
	public readonly arrivals: number[] = [];
	/** Requests answered 429 because the window was full or the key locked out. */
	public rateLimited = 0;
	#lockedUntil = Number.NEGATIVE_INFINITY;

	private constructor(options: StabilityServerOptions) {
		this.#apiKey = options.apiKey ?? STABILITY_TEST_KEY;
		this.#engines = new Set(options.engines ?? KNOWN_ENGINES);
		this.#rateLimit = options.rateLimit ?? STABILITY_RATE_LIMIT;
		this.credits = options.credits ?? 25;
		this.#onRequest = (request, response) => {
			response.on('error', () => undefined);
			this.#handle(request, response).catch((error: unknown) => {
				if (!response.headersSent) sendJson(response, 500, { id: 'fake', name: 'fake_crashed', errors: [String(error)] });
				else response.destroy();
			});
		};
	}

	public static async start(options: StabilityServerOptions = {}): Promise<FakeStabilityServer> {
		const fake = new FakeStabilityServer(options);
		fake.#server = await LoopbackServer.listen(fake.#onRequest);
		return fake;
	}

	public get url(): string {
		if (!this.#server) throw new Error('the fake is not listening');
		return this.#server.url;
	}

	/** The next requests get these faults, one each, in order; after them the fake answers normally. */
	public script(...faults: StabilityFault[]): this {
		this.#faults.push(...faults);
		return this;
	}

	/** Everything the fake refused, across requests. */
	public get problems(): string[] {
		return this.requests.flatMap((request) => request.problems.map((problem) => `${request.path}: ${problem}`));
	}

	public async close(): Promise<void> {
		await this.#server?.close();
	}

	/** The most requests that arrived within any one window (sliding), for throughput figures. */
	public busiestWindow(windowMs = this.#rateLimit.windowMs): number {
		let busiest = 0;
		let first = 0;
		for (let last = 0; last < this.arrivals.length; last++) {
			while ((this.arrivals[last] as number) - (this.arrivals[first] as number) >= windowMs) first++;
			busiest = Math.max(busiest, last - first + 1);
		}
		return busiest;
	}

	/** True when this arrival is over the limit: the window already holds the maximum, or the key is locked out. */
	#overLimit(now: number): boolean {
		const { maxRequests, windowMs, lockoutMs } = this.#rateLimit;
		this.arrivals.push(now);
		if (now < this.#lockedUntil) return true;
		let inWindow = 0;
		for (let index = this.arrivals.length - 1; index >= 0 && (this.arrivals[index] as number) > now - windowMs; index--) inWindow++;
		if (inWindow <= maxRequests) return false;
		this.#lockedUntil = now + lockoutMs;
		return true;
	}

	async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const arrivedAt = performance.now();
		if (this.#overLimit(arrivedAt)) {
			this.rateLimited++;
			request.resume();
			return sendRateLimited(response, (request.url ?? '').startsWith('/v1/') ? 'v1' : 'v2beta');
		}
		const body = await readBody(request);
		const path = request.url ?? '/';
		const record: RecordedRequest = {
			method: request.method ?? '',
			path,
			headers: request.headers,
			fields: {},
			bodyBytes: body.length,
			problems: [],
			aborted: false
		};
		this.requests.push(record);
		response.on('close', () => {
			if (!response.writableFinished) record.aborted = true;
		});
		if (ACCOUNT_ROUTES.has(path)) return this.#account(request, response, record);
		const route = parseRoute(path);
		const api: Api = route?.api ?? (path.startsWith('/v1/') ? 'v1' : 'v2beta');
		const problem = (text: string) => record.problems.push(text);

		if (route) await parseFields(request, body, route, record);
		const status = this.#check(request, body, route, record);
		const fault = this.#faults.shift();
		if (fault) return this.#fault(fault, api, response, route && status === 200 ? answerFor(route, record) : defaultAnswer());
		if (status !== 200) {
			const [name, message] = statusError(status, record.problems, route?.engine);
			return sendError(response, api, status, name, message);
		}
		if (!route) {
			problem('unknown route');
			return sendError(response, api, 404, 'not_found', 'no such route');
		}
		return sendImage(response, api, answerFor(route, record), 'SUCCESS', acceptsJson(request) ? 'json' : 'bytes');
	}

	/**
	 * `GET /v1/user/balance` -> `{ credits }` and `GET /v1/user/account` -> `{ id, email, organizations, profile_picture }`,
	 * JSON only; 401 `{ id, name, message }` without the right key. Scripted faults apply as to any request.
	 */
	async #account(request: IncomingMessage, response: ServerResponse, record: RecordedRequest): Promise<void> {
		if (request.method !== 'GET') record.problems.push(`method ${request.method}`);
		const accept = request.headers.accept;
		if (accept !== undefined && accept !== 'application/json' && accept !== '*/*') record.problems.push(`accept header ${accept}`);
		const fault = this.#faults.shift();
		if (fault) return this.#fault(fault, 'v1', response, defaultAnswer());
		if (request.headers.authorization !== `Bearer ${this.#apiKey}`) {
			record.problems.push('authorization header missing or wrong');
			return sendError(response, 'v1', 401, 'unauthorized', 'missing authorization header');
		}
		if (record.path === '/v1/user/balance') return sendJson(response, 200, { credits: this.credits });
		return sendJson(response, 200, {
			id: 'user-1234',
			email: 'owner@example.com',
			organizations: [{ id: 'org-1234', name: 'My Organization', role: 'MEMBER', is_default: true }],
			profile_picture: 'https://example.com/picture.png'
		});
	}

	/** 200 when the request is what the API accepts; otherwise the status Stability would answer. */
	#check(request: IncomingMessage, body: Buffer, route: Route | null, record: RecordedRequest): number {
		const problems = record.problems;
		if (request.method !== 'POST') problems.push(`method ${request.method}`);
		if (request.headers.authorization !== `Bearer ${this.#apiKey}`) {
			problems.push('authorization header missing or wrong');
			return 401;
		}
		if (!route) return 404;
		if (route.engine !== undefined && !this.#engines.has(route.engine)) {
			problems.push(`unknown engine ${route.engine}`);
			return 404;
		}
		if (body.length > MAX_REQUEST_BYTES) {
			problems.push('request over 10 MiB');
			return 413;
		}
		const accept = request.headers.accept ?? '';
		const accepted = route.api === 'v1' ? ['image/png', 'application/json'] : ['image/*', 'application/json'];
		if (!accepted.includes(accept)) problems.push(`accept header ${accept}`);
		const contentType = request.headers['content-type'] ?? '';
		if (route.kind === 'v1-text') {
			if (!contentType.startsWith('application/json')) problems.push(`content-type ${contentType}`);
			checkV1Text(record, route, problems, accept);
		} else {
			if (!contentType.startsWith('multipart/form-data; boundary=')) problems.push(`content-type ${contentType}`);
			if (route.kind === 'generate') checkGenerate(record.fields, route.endpoint as string, problems);
			if (route.kind === 'upscale-fast') checkUpscaleFast(record.fields, problems);
			if (route.kind === 'v1-image') checkV1Image(record.fields, route, problems);
			if (route.kind === 'v1-upscale') checkV1Upscale(record.fields, problems);
		}
		return problems.length > 0 ? 400 : 200;
	}

	async #fault(fault: StabilityFault, api: Api, response: ServerResponse, answer: Answer): Promise<void> {
		switch (fault.kind) {
			case 'error':
				return sendError(response, api, fault.status, fault.name, fault.message);
			case 'rateLimit':
				if (fault.retryAfter !== undefined) response.setHeader('Retry-After', fault.retryAfter);
				return sendRateLimited(response, api);
			case 'noHeaders':
				return;
			case 'slow':
				await new Promise((resolve) => setTimeout(resolve, fault.ms));
				return sendImage(response, api, answer, 'SUCCESS', 'bytes');
			case 'stallBody': {
				const png = await pngImage(answer.width, answer.height);
				response.writeHead(200, {
					'Content-Type': 'image/png',
					'Content-Length': png.length,
					'finish-reason': 'SUCCESS',
					seed: answer.seed
				});
				response.write(png.subarray(0, Math.floor(png.length / 2)));
				return;
			}
			case 'cutConnection': {
				const png = await pngImage(answer.width, answer.height);
				response.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length + 4096, 'finish-reason': 'SUCCESS' });
				response.write(png, () => response.socket?.end());
				return;
			}
			case 'truncatedImage': {
				const png = await pngImage(answer.width, answer.height);
				const half = png.subarray(0, Math.floor(png.length * 0.6));
				response.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': half.length, 'finish-reason': 'SUCCESS' });
				response.end(half);
				return;
			}
			case 'oversize':
				return sendOversize(response, fault.bytes, fault.declareLength);
			case 'notImage': {
				const page = Buffer.from('<html><body>502 Bad Gateway</body></html>');
				response.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': page.length, 'finish-reason': 'SUCCESS' });
				response.end(page);
				return;
			}
			case 'filtered':
				return sendImage(response, api, answer, 'CONTENT_FILTERED', fault.format ?? 'bytes');
			case 'finish':
				return sendImage(response, api, answer, fault.reason, fault.format ?? 'bytes');
			case 'json':
				return sendImage(response, api, answer, 'SUCCESS', 'json');
		}
	}
}

function parseRoute(path: string): Route | null {
	const generate = /^\/v2beta\/stable-image\/generate\/(core|ultra|sd3)$/.exec(path);
	if (generate) return { api: 'v2beta', kind: 'generate', endpoint: generate[1] };
	if (path === '/v2beta/stable-image/upscale/fast') return { api: 'v2beta', kind: 'upscale-fast' };
	const v1 = /^\/v1\/generation\/([^/]+)\/(text-to-image|image-to-image|image-to-image\/upscale)$/.exec(path);
	if (!v1) return null;
	const kind = v1[2] === 'text-to-image' ? 'v1-text' : v1[2] === 'image-to-image' ? 'v1-image' : 'v1-upscale';
	return { api: 'v1', kind, engine: decodeURIComponent(v1[1] as string) };
}

async function parseFields(request: IncomingMessage, body: Buffer, route: Route, record: RecordedRequest): Promise<void> {
	const contentType = request.headers['content-type'] ?? '';
	if (route.kind === 'v1-text') {
		try {
			record.json = JSON.parse(body.toString('utf8'));
			if (record.json && typeof record.json === 'object') {
				for (const [name, value] of Object.entries(record.json))
					record.fields[name] = typeof value === 'string' ? value : JSON.stringify(value);
			}
		} catch {
			record.problems.push('body is not JSON');
		}
		return;
	}
	let form: Awaited<ReturnType<Request['formData']>>;
	try {
		form = await new Request(`http://127.0.0.1${record.path}`, {
			method: 'POST',
			headers: { 'content-type': contentType },
			body
		}).formData();
	} catch {
		record.problems.push('body is not multipart/form-data');
		return;
	}
	for (const [name, value] of form.entries()) {
		if (name in record.fields) record.problems.push(`field ${name} sent twice`);
		if (typeof value === 'string') {
			record.fields[name] = value;
			continue;
		}
		const data = Buffer.from(await value.arrayBuffer());
		let metadata: sharp.Metadata | null = null;
		try {
			metadata = await sharp(data).metadata();
		} catch {
			record.problems.push(`${name} is not an image`);
		}
		record.fields[name] = {
			filename: value.name,
			type: value.type,
			bytes: data.length,
			width: metadata?.width ?? 0,
			height: metadata?.height ?? 0,
			format: metadata?.format ?? ''
		};
	}
}

function checkAllowed(fields: Record<string, unknown>, allowed: readonly string[], problems: string[]): void {
	for (const name of Object.keys(fields)) if (!allowed.includes(name)) problems.push(`unexpected field ${name}`);
}

function text(fields: Record<string, string | FilePart>, name: string, problems: string[]): string | undefined {
	const value = fields[name];
	if (value === undefined) return undefined;
	if (typeof value !== 'string') {
		problems.push(`${name} must be text`);
		return undefined;
	}
	return value;
}

function file(fields: Record<string, string | FilePart>, name: string, problems: string[]): FilePart | undefined {
	const value = fields[name];
	if (value === undefined) return undefined;
	if (typeof value === 'string') {
		problems.push(`${name} must be a file`);
		return undefined;
	}
	return value;
}

function checkNumber(value: string | undefined, name: string, min: number, max: number, problems: string[], integer = false): void {
	if (value === undefined) return;
	const number = Number(value);
	if (value.trim() === '' || !Number.isFinite(number) || number < min || number > max || (integer && !Number.isInteger(number))) {
		problems.push(`${name} out of range: ${value}`);
	}
}

function checkGenerate(fields: Record<string, string | FilePart>, endpoint: string, problems: string[]): void {
	const common = ['prompt', 'negative_prompt', 'aspect_ratio', 'seed', 'style_preset', 'output_format'];
	const allowed =
		endpoint === 'core'
			? common
			: endpoint === 'ultra'
				? [...common, 'image', 'strength']
				: [...common, 'image', 'strength', 'model', 'mode', 'cfg_scale'];
	checkAllowed(fields, allowed, problems);
	const prompt = text(fields, 'prompt', problems);
	if (!prompt || prompt.length > 10_000) problems.push('prompt missing or longer than 10000');
	const negative = text(fields, 'negative_prompt', problems);
	if (negative !== undefined && negative.length > 10_000) problems.push('negative_prompt too long');
	const ratio = text(fields, 'aspect_ratio', problems);
	if (ratio !== undefined && !(ratio in ASPECT_SIZES)) problems.push(`aspect_ratio ${ratio}`);
	checkNumber(text(fields, 'seed', problems), 'seed', 0, 4_294_967_294, problems, true);
	const style = text(fields, 'style_preset', problems);
	if (style !== undefined && !STYLE_PRESETS.has(style)) problems.push(`style_preset ${style}`);
	const format = text(fields, 'output_format', problems);
	if (format !== undefined && !['png', 'jpeg', 'webp'].includes(format)) problems.push(`output_format ${format}`);
	const image = file(fields, 'image', problems);
	const strength = text(fields, 'strength', problems);
	if (image) {
		if (Math.min(image.width, image.height) < 64 || Math.max(image.width, image.height) > 16_384)
			problems.push('image sides outside 64..16384');
		if (strength === undefined) problems.push('strength is required with image');
		if (ratio !== undefined) problems.push('aspect_ratio is for text-to-image only');
	} else if (strength !== undefined) problems.push('strength without image');
	checkNumber(strength, 'strength', 0, 1, problems);
	if (endpoint === 'sd3') {
		const model = text(fields, 'model', problems);
		if (model !== undefined && !SD3_MODELS.has(model)) problems.push(`model ${model}`);
		const mode = text(fields, 'mode', problems) ?? 'text-to-image';
		if (mode !== 'text-to-image' && mode !== 'image-to-image') problems.push(`mode ${mode}`);
		if (mode === 'image-to-image' && !image) problems.push('image-to-image without image');
		if (mode === 'text-to-image' && image) problems.push('text-to-image with image');
		checkNumber(text(fields, 'cfg_scale', problems), 'cfg_scale', 1, 10, problems);
	}
}

function checkUpscaleFast(fields: Record<string, string | FilePart>, problems: string[]): void {
	checkAllowed(fields, ['image', 'output_format'], problems);
	const image = file(fields, 'image', problems);
	if (!image) problems.push('image is required');
	else if (Math.min(image.width, image.height) < 32 || Math.max(image.width, image.height) > 1536)
		problems.push('image sides outside 32..1536');
	else if (image.width * image.height < 1024 || image.width * image.height > 1_048_576) problems.push('image pixels outside 1024..1048576');
	const format = text(fields, 'output_format', problems);
	if (format !== undefined && !['png', 'jpeg', 'webp'].includes(format)) problems.push(`output_format ${format}`);
}

function checkV1Size(width: number, height: number, engine: string, problems: string[], what: string): void {
	if (engine.includes('xl-1024')) {
		if (!SDXL_SIZES.has(`${width}x${height}`)) problems.push(`${what} ${width}x${height} is not an SDXL size`);
		return;
	}
	if (width % 64 !== 0 || height % 64 !== 0 || width < 128 || height < 128)
		problems.push(`${what} ${width}x${height} not multiples of 64 >= 128`);
	const min = engine.includes('768') ? 589_824 : 262_144;
	if (width * height < min || width * height > 1_048_576) problems.push(`${what} ${width}x${height} pixels outside ${min}..1048576`);
}

function checkV1Common(values: Record<string, string | undefined>, problems: string[]): void {
	checkNumber(values.cfg_scale, 'cfg_scale', 0, 35, problems);
	checkNumber(values.samples, 'samples', 1, 1, problems, true);
	checkNumber(values.steps, 'steps', 10, 50, problems, true);
	checkNumber(values.seed, 'seed', 0, 4_294_967_295, problems, true);
	if (values.style_preset !== undefined && !STYLE_PRESETS.has(values.style_preset)) problems.push(`style_preset ${values.style_preset}`);
}

function checkV1Text(record: RecordedRequest, route: Route, problems: string[], accept: string): void {
	const body = record.json as Record<string, unknown> | undefined;
	if (!body || typeof body !== 'object') return;
	checkAllowed(
		body,
		['text_prompts', 'cfg_scale', 'height', 'width', 'samples', 'steps', 'seed', 'style_preset', 'sampler', 'clip_guidance_preset'],
		problems
	);
	const prompts = body.text_prompts;
	if (!Array.isArray(prompts) || prompts.length === 0) problems.push('text_prompts missing');
	else {
		for (const prompt of prompts as { text?: unknown; weight?: unknown }[]) {
			if (typeof prompt.text !== 'string' || prompt.text.length === 0 || prompt.text.length > 2000) problems.push('text_prompts[].text');
			if (typeof prompt.weight !== 'number') problems.push('text_prompts[].weight');
		}
	}
	for (const name of ['cfg_scale', 'height', 'width', 'samples', 'steps', 'seed']) {
		if (body[name] !== undefined && typeof body[name] !== 'number') problems.push(`${name} must be a number`);
	}
	const width = typeof body.width === 'number' ? body.width : 512;
	const height = typeof body.height === 'number' ? body.height : 512;
	checkV1Size(width, height, route.engine as string, problems, 'size');
	const asText = (value: unknown) => (value === undefined ? undefined : String(value));
	checkV1Common(
		{
			cfg_scale: asText(body.cfg_scale),
			samples: asText(body.samples),
			steps: asText(body.steps),
			seed: asText(body.seed),
			style_preset: asText(body.style_preset)
		},
		problems
	);
	if (accept === 'image/png' && body.samples !== undefined && body.samples !== 1) problems.push('samples > 1 with image/png');
}

function checkV1Image(fields: Record<string, string | FilePart>, route: Route, problems: string[]): void {
	const prompts = Object.keys(fields).filter((name) => name.startsWith('text_prompts['));
	checkAllowed(
		Object.fromEntries(Object.entries(fields).filter(([name]) => !prompts.includes(name))),
		['init_image', 'init_image_mode', 'image_strength', 'cfg_scale', 'samples', 'steps', 'seed', 'style_preset', 'sampler'],
		problems
	);
	for (const name of prompts) if (!/^text_prompts\[\d+\]\[(text|weight)\]$/.test(name)) problems.push(`unexpected field ${name}`);
	if (!text(fields, 'text_prompts[0][text]', problems)) problems.push('text_prompts[0][text] is required');
	const image = file(fields, 'init_image', problems);
	if (!image) problems.push('init_image is required');
	else checkV1Size(image.width, image.height, route.engine as string, problems, 'init_image');
	const mode = text(fields, 'init_image_mode', problems) ?? 'IMAGE_STRENGTH';
	if (mode !== 'IMAGE_STRENGTH') problems.push(`init_image_mode ${mode}`);
	checkNumber(text(fields, 'image_strength', problems), 'image_strength', 0, 1, problems);
	const values: Record<string, string | undefined> = {};
	for (const name of ['cfg_scale', 'samples', 'steps', 'seed', 'style_preset']) values[name] = text(fields, name, problems);
	checkV1Common(values, problems);
}

function checkV1Upscale(fields: Record<string, string | FilePart>, problems: string[]): void {
	checkAllowed(fields, ['image', 'width', 'height'], problems);
	const image = file(fields, 'image', problems);
	if (!image) return void problems.push('image is required');
	const width = text(fields, 'width', problems);
	const height = text(fields, 'height', problems);
	if (width !== undefined && height !== undefined) problems.push('only one of width and height');
	checkNumber(width, 'width', 512, Number.MAX_SAFE_INTEGER, problems, true);
	checkNumber(height, 'height', 512, Number.MAX_SAFE_INTEGER, problems, true);
	const out = v1UpscaleSize(image, width, height);
	if (out.width * out.height > 4_194_304) problems.push(`output ${out.width}x${out.height} over 4194304 px`);
}

function v1UpscaleSize(image: FilePart, width: string | undefined, height: string | undefined): { width: number; height: number } {
	if (width !== undefined) return { width: Number(width), height: Math.round((Number(width) * image.height) / image.width) };
	if (height !== undefined) return { width: Math.round((Number(height) * image.width) / image.height), height: Number(height) };
	return { width: image.width * 2, height: image.height * 2 };
}

function requestedSeed(record: RecordedRequest): number {
	const raw = record.json ? (record.json as { seed?: unknown }).seed : record.fields.seed;
	const seed = Number(raw ?? 0);
	return Number.isFinite(seed) && seed > 0 ? seed : RANDOM_SEED;
}

function answerFor(route: Route, record: RecordedRequest): Answer {
	const seed = requestedSeed(record);
	const fields = record.fields;
	switch (route.kind) {
		case 'generate': {
			const image = fields.image;
			if (image && typeof image !== 'string') return { width: image.width, height: image.height, seed };
			const [width, height] = ASPECT_SIZES[(fields.aspect_ratio as string | undefined) ?? '1:1'] ?? [1024, 1024];
			return { width, height, seed };
		}
		case 'upscale-fast': {
			const image = fields.image as FilePart;
			return { width: image.width * 4, height: image.height * 4, seed: 0 };
		}
		case 'v1-text': {
			const body = record.json as { width?: number; height?: number };
			return { width: body.width ?? 512, height: body.height ?? 512, seed };
		}
		case 'v1-image': {
			const image = fields.init_image as FilePart;
			return { width: image.width, height: image.height, seed };
		}
		case 'v1-upscale':
			return {
				...v1UpscaleSize(fields.image as FilePart, fields.width as string | undefined, fields.height as string | undefined),
				seed: 0
			};
	}
}

function defaultAnswer(): Answer {
	return { width: 64, height: 64, seed: RANDOM_SEED };
}

function acceptsJson(request: IncomingMessage): boolean {
	return request.headers.accept === 'application/json';
}

function statusError(status: number, problems: string[], engine: string | undefined): [string, string] {
	switch (status) {
		case 401:
			return ['unauthorized', 'authentication failed'];
		case 404:
			return ['not_found', engine ? `The specified engine (ID ${engine}) was not found.` : 'not found'];
		case 413:
			return ['payload_too_large', 'Your request was larger than 10MiB.'];
		default:
			return ['bad_request', problems.join('; ')];
	}
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
	const data = Buffer.from(JSON.stringify(body));
	response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
	response.end(data);
}

function sendError(response: ServerResponse, api: Api, status: number, name: string, message: string): void {
	const id = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
	sendJson(response, status, api === 'v1' ? { id, name, message } : { id, name, errors: [message] });
}

/** Stability's answer past its rate limit. */
function sendRateLimited(response: ServerResponse, api: Api): void {
	sendError(response, api, 429, 'rate_limit_exceeded', 'You have exceeded the rate limit of 150 requests within a 10 second period.');
}

async function sendImage(
	response: ServerResponse,
	api: Api,
	answer: Answer,
	finishReason: string,
	format: 'bytes' | 'json'
): Promise<void> {
	const png = await answerImage(answer.width, answer.height, finishReason === 'CONTENT_FILTERED');
	if (format === 'json') {
		const base64 = png.toString('base64');
		sendJson(
			response,
			200,
			api === 'v1'
				? { artifacts: [{ base64, seed: answer.seed, finishReason }] }
				: { image: base64, finish_reason: finishReason, seed: answer.seed }
		);
		return;
	}
	response.writeHead(200, {
		'Content-Type': 'image/png',
		'Content-Length': png.length,
		// v1 spells them Finish-Reason / Seed; HTTP header names are case-insensitive either way.
		[api === 'v1' ? 'Finish-Reason' : 'finish-reason']: finishReason,
		[api === 'v1' ? 'Seed' : 'seed']: String(answer.seed),
		'x-request-id': 'fake-request'
	});
	response.end(png);
}

/** The answers are solid images: drawn once per size, so a queue of a thousand requests is not a thousand drawings. */
const answerImages = new Map<string, Promise<Buffer>>();

function answerImage(width: number, height: number, blurred: boolean): Promise<Buffer> {
	const key = `${width}x${height}${blurred ? ' blurred' : ''}`;
	let image = answerImages.get(key);
	if (!image) {
		image = pngImage(width, height, blurred ? { color: { r: 20, g: 20, b: 20 } } : {});
		answerImages.set(key, image);
	}
	return image;
}

async function sendOversize(response: ServerResponse, bytes: number, declareLength: boolean): Promise<void> {
	response.writeHead(200, {
		'Content-Type': 'image/png',
		'finish-reason': 'SUCCESS',
		...(declareLength ? { 'Content-Length': bytes } : {})
	});
	const chunk = Buffer.alloc(64 * 1024, 0x42);
	let sent = 0;
	while (sent < bytes && !response.destroyed) {
		const size = Math.min(chunk.length, bytes - sent);
		sent += size;
		if (!response.write(chunk.subarray(0, size))) {
			await new Promise<void>((resolve) => {
				response.once('drain', resolve);
				response.once('close', resolve);
			});
		}
	}
	if (!response.destroyed) response.end();
}
