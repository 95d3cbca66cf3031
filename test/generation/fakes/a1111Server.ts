import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { LoopbackServer, readBody } from './loopbackServer.js';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { pngImage } from './images.js';

/**
 * A stand-in for AUTOMATIC1111's stable-diffusion-webui API (`--api`) on 127.0.0.1: the documented JSON
 * formats, checks on what arrives (422 like FastAPI when a field is wrong, 401 when Basic auth is configured
 * and missing or wrong), real PNGs of the requested size, and faults a test switches on.
 */
export type A1111Fault =
	| { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
	/** Reads the request and never answers. */
	| { kind: 'noHeaders' }
	/** Sends the headers and part of the body, then goes silent. */
	| { kind: 'stallBody' }
	/** 200 whose image is base64 of something that is not an image. */
	| { kind: 'notImage' }
	/** 200 whose body is cut-off JSON (complete HTTP message). */
	| { kind: 'malformedJson' }
	/** 200 with an empty `images` array. */
	| { kind: 'noImages' }
	/** 200 whose `info` is not JSON. */
	| { kind: 'badInfo' };

export interface RecordedRequest {
	method: string;
	/** Path without the query string. */
	path: string;
	query: URLSearchParams;
	headers: IncomingMessage['headers'];
	/** The parsed JSON body (undefined for GET or unparsable bodies). */
	body: Record<string, unknown> | undefined;
}

export interface FakeA1111Options {
	/** Basic auth the server demands (like `--api-auth user:pass`). */
	username?: string;
	password?: string;
}

export const PROGRESS_PATH = '/sdapi/v1/progress';

interface ArmedFault {
	fault: A1111Fault;
	remaining: number;
	path: string | undefined;
}

export class FakeA1111Server {
	public readonly requests: RecordedRequest[] = [];
	/** The seed used when a request asks for a random one (-1). */
	public randomSeed = 1_234_567_890;
	/** What extra-single-image multiplies by, instead of `upscaling_resize` (a 4x model that ignores it). */
	public upscaleScaleOverride: number | undefined;
	public progress = {
		progress: 0.42,
		eta_relative: 12.5,
		state: {
			skipped: false,
			interrupted: false,
			job: 'txt2img',
			job_count: 1,
			job_timestamp: '20250101000000',
			job_no: 0,
			sampling_step: 13,
			sampling_steps: 30
		},
		current_image: null,
		textinfo: null
	};

	#server: LoopbackServer | null = null;
	readonly #onRequest: (request: IncomingMessage, response: ServerResponse) => void;
	readonly #faults: ArmedFault[] = [];
	readonly #authorization: string | undefined;

	private constructor(options: FakeA1111Options) {
		this.#authorization =
			options.username === undefined
				? undefined
				: `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
		this.#onRequest = (request, response) => {
			this.#handle(request, response).catch(() => {
				if (!response.headersSent) this.#json(response, 500, { error: 'FakeError', detail: 'fake server failed' });
				else response.destroy();
			});
		};
	}

	public static async start(options: FakeA1111Options = {}): Promise<FakeA1111Server> {
		const fake = new FakeA1111Server(options);
		fake.#server = await LoopbackServer.listen(fake.#onRequest);
		return fake;
	}

	public get url(): string {
		if (!this.#server) throw new Error('the fake is not listening');
		return this.#server.url;
	}

	/** Requests to `path` (all of them when omitted). */
	public requestsTo(path?: string): RecordedRequest[] {
		return path === undefined ? this.requests : this.requests.filter((request) => request.path === path);
	}

	/** Arms a fault for the next `times` requests to `path` (default: any route but progress). */
	public fault(fault: A1111Fault, options: { times?: number; path?: string } = {}): void {
		this.#faults.push({ fault, remaining: options.times ?? Number.POSITIVE_INFINITY, path: options.path });
	}

	public async close(): Promise<void> {
		await this.#server?.close();
	}

	async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		const raw = await readBody(request);
		let body: Record<string, unknown> | undefined;
		if (raw.length > 0) {
			try {
				const parsed: unknown = JSON.parse(raw.toString('utf8'));
				if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
			} catch {
				body = undefined;
			}
		}
		this.requests.push({ method: request.method ?? '', path: url.pathname, query: url.searchParams, headers: request.headers, body });

		if (this.#authorization !== undefined && request.headers.authorization !== this.#authorization) {
			this.#json(response, 401, { detail: 'Incorrect username or password' }, { 'www-authenticate': 'Basic' });
			return;
		}
		const fault = this.#takeFault(url.pathname);
		if (fault && this.#applyFault(fault, response)) return;

		const route = `${request.method ?? ''} ${url.pathname}`;
		if (route === `GET ${PROGRESS_PATH}`) {
			this.#json(response, 200, this.progress);
			return;
		}
		const known = ['POST /sdapi/v1/txt2img', 'POST /sdapi/v1/img2img', 'POST /sdapi/v1/extra-single-image'];
		if (!known.includes(route)) {
			this.#json(response, 404, { detail: 'Not Found' });
			return;
		}
		if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
			this.#unprocessable(response, 'body', 'content-type must be application/json');
			return;
		}
		if (!body) {
			this.#unprocessable(response, 'body', 'value is not a valid dict');
			return;
		}
		if (url.pathname === '/sdapi/v1/extra-single-image') await this.#upscale(body, response, fault);
		else await this.#generate(url.pathname === '/sdapi/v1/img2img', body, response, fault);
	}

	async #generate(img2img: boolean, body: Record<string, unknown>, response: ServerResponse, fault: A1111Fault | undefined) {
		const problem =
			check(body, 'prompt', (v) => typeof v === 'string' && v.length > 0) ??
			check(body, 'negative_prompt', (v) => v === undefined || typeof v === 'string') ??
			check(body, 'seed', (v) => Number.isSafeInteger(v) && (v as number) >= -1) ??
			check(body, 'steps', (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= 150) ??
			check(body, 'sampler_name', (v) => v === undefined || typeof v === 'string') ??
			check(body, 'cfg_scale', (v) => v === undefined || typeof v === 'number') ??
			check(body, 'width', isSide) ??
			check(body, 'height', isSide) ??
			check(body, 'batch_size', (v) => v === 1) ??
			(img2img
				? (check(body, 'init_images', (v) => Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') ??
					check(body, 'denoising_strength', (v) => typeof v === 'number' && v >= 0 && v <= 1))
				: undefined);
		if (problem) {
			this.#unprocessable(response, problem, 'invalid value');
			return;
		}
		if (img2img && !(await isImage((body.init_images as string[])[0] as string))) {
			this.#json(response, 500, { error: 'UnidentifiedImageError', detail: 'cannot identify image file' });
			return;
		}
		const width = body.width as number;
		const height = body.height as number;
		const seed = body.seed === -1 ? this.randomSeed : (body.seed as number);
		const image = fault?.kind === 'notImage' ? Buffer.from('this is not an image, just text') : await pngImage(width, height);
		if (fault?.kind === 'noImages') {
			this.#json(response, 200, { images: [], parameters: body, info: '{}' });
			return;
		}
		const info = fault?.kind === 'badInfo' ? 'not json {' : JSON.stringify({ prompt: body.prompt, seed, all_seeds: [seed], width, height });
		this.#json(response, 200, { images: [image.toString('base64')], parameters: { ...body, init_images: null }, info });
	}

	async #upscale(body: Record<string, unknown>, response: ServerResponse, fault: A1111Fault | undefined) {
		const problem =
			check(body, 'image', (v) => typeof v === 'string' && v.length > 0) ??
			check(body, 'upscaling_resize', (v) => typeof v === 'number' && v >= 1 && v <= 8) ??
			check(body, 'upscaler_1', (v) => typeof v === 'string' && v.length > 0);
		if (problem) {
			this.#unprocessable(response, problem, 'invalid value');
			return;
		}
		let metadata: sharp.Metadata;
		try {
			metadata = await sharp(Buffer.from(body.image as string, 'base64')).metadata();
		} catch {
			this.#json(response, 500, { error: 'UnidentifiedImageError', detail: 'cannot identify image file' });
			return;
		}
		const scale = this.upscaleScaleOverride ?? (body.upscaling_resize as number);
		const image =
			fault?.kind === 'notImage'
				? Buffer.from('not an image')
				: await pngImage(Math.round((metadata.width ?? 1) * scale), Math.round((metadata.height ?? 1) * scale));
		this.#json(response, 200, { image: image.toString('base64'), html_info: '<p>upscaled</p>' });
	}

	#takeFault(path: string): A1111Fault | undefined {
		const armed = this.#faults.find(
			(entry) => entry.remaining > 0 && (entry.path === undefined ? path !== PROGRESS_PATH : entry.path === path)
		);
		if (!armed) return undefined;
		armed.remaining--;
		return armed.fault;
	}

	/** True when the fault answered (or deliberately did not); false when the route goes on and shapes its answer. */
	#applyFault(fault: A1111Fault, response: ServerResponse): boolean {
		switch (fault.kind) {
			case 'status':
				response.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
				response.end(fault.body ?? JSON.stringify({ error: 'RuntimeError', detail: 'CUDA out of memory' }));
				return true;
			case 'noHeaders':
				return true;
			case 'stallBody':
				response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
				response.write('{"images": ["iVBORw0KGgo');
				return true;
			case 'malformedJson': {
				const text = '{"images": ["iVBORw0KGgo", "parameters": {';
				response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
				response.end(text);
				return true;
			}
			default:
				return false;
		}
	}

	#unprocessable(response: ServerResponse, field: string, message: string): void {
		this.#json(response, 422, { detail: [{ loc: ['body', field], msg: message, type: 'value_error' }] });
	}

	#json(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
		const text = JSON.stringify(value);
		response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
		response.end(text);
	}
}

/** A port nothing listens on (briefly bound, then released). */
export async function closedPortUrl(): Promise<string> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
	const { port } = server.address() as AddressInfo;
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return `http://127.0.0.1:${port}`;
}

function check(body: Record<string, unknown>, field: string, valid: (value: unknown) => boolean): string | undefined {
	return valid(body[field]) ? undefined : field;
}

function isSide(value: unknown): boolean {
	return Number.isSafeInteger(value) && (value as number) >= 64 && (value as number) <= 2048 && (value as number) % 8 === 0;
}

async function isImage(base64: string): Promise<boolean> {
	try {
		const metadata = await sharp(Buffer.from(base64, 'base64')).metadata();
		return Boolean(metadata.width && metadata.height);
	} catch {
		return false;
	}
}
