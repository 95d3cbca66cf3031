import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import sharp from 'sharp';
import { Request } from 'undici';
import { WebSocketServer, type WebSocket } from 'ws';
import { pngImage } from './images.js';
import { LoopbackServer, readBody } from './loopbackServer.js';

/**
 * A ComfyUI stand-in on 127.0.0.1, written from ComfyUI's public server documentation (docs.comfy.org, "Server
 * Overview" and "Messages", and the routes of its README): `POST /prompt` validates the workflow the way
 * ComfyUI does (known node classes, required inputs of the right type, values in their lists, links to
 * existing outputs, at least one output node) and answers 400 `{ error, node_errors }` when it fails; queued
 * prompts run one at a time, and the client of each (`client_id`) gets the documented websocket messages
 * (`status`, `execution_start`, `execution_cached`, `executing`, `progress` with binary preview frames between
 * them, `executed`, `execution_success`, `execution_error`, `execution_interrupted`). `/history`, `/view`,
 * `/upload/image` (multipart), `/queue` (GET and delete), `/interrupt` behave as documented. The images are
 * real PNGs of the size the workflow makes. Faults are scripted per prompt, in order.
 */

/** What happens to the next submitted prompts, one each (after them: a normal run). */
export type PromptScript =
	/** Runs to the end. */
	| { kind: 'run' }
	/** Starts, then a node raises: `execution_error`. */
	| { kind: 'executionError'; nodeType?: string; message: string }
	/** Runs, but the saved file is not an image. */
	| { kind: 'notImage' }
	/** Accepted, starts, then nothing more is ever sent (a stuck GPU); only an interrupt ends it. */
	| { kind: 'stall' }
	/** Runs, but no `executed` message is sent (outputs only in /history, as for cached nodes). */
	| { kind: 'noExecutedMessage' }
	/** Starts, then is interrupted on the server (someone pressed Cancel in ComfyUI). */
	| { kind: 'interruptedOnServer' };

export interface RecordedRequest {
	method: string;
	path: string;
	query: URLSearchParams;
	headers: IncomingHttpHeaders;
	json?: unknown;
}

export interface SubmittedPrompt {
	id: string;
	number: number;
	clientId: string | undefined;
	workflow: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
}

export interface Upload {
	name: string;
	subfolder: string;
	type: string;
	overwrite: string | undefined;
	width: number;
	height: number;
	format: string;
}

export interface FakeComfyUIOptions {
	checkpoints?: string[];
	upscaleModels?: string[];
	/** Headers every request and the websocket handshake must carry (a proxy's auth); 401 otherwise. */
	requiredHeaders?: Record<string, string>;
	/** 'refuse': the websocket handshake gets a 404 (a proxy without websocket support). */
	websocket?: 'on' | 'refuse';
}

interface HttpFault {
	route: string;
	status: number;
	body: unknown;
	remaining: number;
}

interface QueueEntry {
	prompt: SubmittedPrompt;
	script: PromptScript;
	foreign: boolean;
}

interface HistoryEntry {
	prompt: SubmittedPrompt;
	outputs: Record<string, { images: { filename: string; subfolder: string; type: string }[] }>;
	status: { status_str: 'success' | 'error'; completed: boolean; messages: [string, Record<string, unknown>][] };
}

const SAMPLERS = ['euler', 'euler_ancestral', 'heun', 'dpm_2', 'lms', 'dpmpp_2m', 'dpmpp_sde', 'ddim', 'uni_pc'];
const SCHEDULERS = ['normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'ddim_uniform'];
const SCALE_METHODS = ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'];

type InputSpec =
	| { type: 'INT'; min: number; max: number; step?: number }
	| { type: 'FLOAT'; min: number; max: number }
	| { type: 'STRING' }
	| { type: 'COMBO'; values: () => readonly string[] }
	| { type: 'LINK'; of: string };

interface NodeClass {
	inputs: Record<string, InputSpec>;
	outputs: string[];
	output?: boolean;
}

export const DEFAULT_CHECKPOINTS = ['v1-5-pruned-emaonly.safetensors', 'sd_xl_base_1.0.safetensors'];
export const DEFAULT_UPSCALE_MODELS = ['RealESRGAN_x4plus.pth'];
/** The number of sampler steps the fake reports progress for, at most (keeps tests quick). */
const MAX_REPORTED_STEPS = 5;

export class FakeComfyUIServer {
	public readonly requests: RecordedRequest[] = [];
	public readonly prompts: SubmittedPrompt[] = [];
	public readonly uploads: Upload[] = [];
	public readonly interrupts: unknown[] = [];
	public readonly deleted: string[] = [];
	/** Websocket clients that connected, by client id, with the headers of their handshake. */
	public readonly sockets: { clientId: string | null; headers: IncomingHttpHeaders }[] = [];
	/** Everything the fake found wrong with what it was sent (a happy-path test expects none). */
	public readonly problems: string[] = [];

	#server: LoopbackServer | null = null;
	readonly #wss = new WebSocketServer({ noServer: true });
	readonly #clients = new Map<string, Set<WebSocket>>();
	readonly #scripts: PromptScript[] = [];
	readonly #httpFaults: HttpFault[] = [];
	readonly #pending: QueueEntry[] = [];
	#running: QueueEntry | null = null;
	#runningAbort: (() => void) | null = null;
	readonly #history = new Map<string, HistoryEntry>();
	readonly #files = new Map<string, Buffer>();
	readonly #uploadSizes = new Map<string, { width: number; height: number }>();
	readonly #options: Required<Omit<FakeComfyUIOptions, 'requiredHeaders'>> & { requiredHeaders: Record<string, string> };
	readonly #classes: Record<string, NodeClass>;
	#number = 0;
	#held = false;
	#runner: Promise<void> = Promise.resolve();

	private constructor(options: FakeComfyUIOptions) {
		this.#options = {
			checkpoints: options.checkpoints ?? DEFAULT_CHECKPOINTS,
			upscaleModels: options.upscaleModels ?? DEFAULT_UPSCALE_MODELS,
			requiredHeaders: options.requiredHeaders ?? {},
			websocket: options.websocket ?? 'on'
		};
		const link = (of: string): InputSpec => ({ type: 'LINK', of });
		this.#classes = {
			CheckpointLoaderSimple: {
				inputs: { ckpt_name: { type: 'COMBO', values: () => this.#options.checkpoints } },
				outputs: ['MODEL', 'CLIP', 'VAE']
			},
			EmptyLatentImage: {
				inputs: {
					width: { type: 'INT', min: 16, max: 16384, step: 8 },
					height: { type: 'INT', min: 16, max: 16384, step: 8 },
					batch_size: { type: 'INT', min: 1, max: 4096 }
				},
				outputs: ['LATENT']
			},
			CLIPTextEncode: { inputs: { text: { type: 'STRING' }, clip: link('CLIP') }, outputs: ['CONDITIONING'] },
			KSampler: {
				inputs: {
					model: link('MODEL'),
					seed: { type: 'INT', min: 0, max: Number.MAX_SAFE_INTEGER },
					steps: { type: 'INT', min: 1, max: 10000 },
					cfg: { type: 'FLOAT', min: 0, max: 100 },
					sampler_name: { type: 'COMBO', values: () => SAMPLERS },
					scheduler: { type: 'COMBO', values: () => SCHEDULERS },
					positive: link('CONDITIONING'),
					negative: link('CONDITIONING'),
					latent_image: link('LATENT'),
					denoise: { type: 'FLOAT', min: 0, max: 1 }
				},
				outputs: ['LATENT']
			},
			VAEDecode: { inputs: { samples: link('LATENT'), vae: link('VAE') }, outputs: ['IMAGE'] },
			VAEEncode: { inputs: { pixels: link('IMAGE'), vae: link('VAE') }, outputs: ['LATENT'] },
			LoadImage: { inputs: { image: { type: 'COMBO', values: () => [...this.#uploadSizes.keys()] } }, outputs: ['IMAGE', 'MASK'] },
			UpscaleModelLoader: {
				inputs: { model_name: { type: 'COMBO', values: () => this.#options.upscaleModels } },
				outputs: ['UPSCALE_MODEL']
			},
			ImageUpscaleWithModel: { inputs: { upscale_model: link('UPSCALE_MODEL'), image: link('IMAGE') }, outputs: ['IMAGE'] },
			ImageScaleBy: {
				inputs: {
					image: link('IMAGE'),
					upscale_method: { type: 'COMBO', values: () => SCALE_METHODS },
					scale_by: { type: 'FLOAT', min: 0.01, max: 8 }
				},
				outputs: ['IMAGE']
			},
			SaveImage: { inputs: { images: link('IMAGE'), filename_prefix: { type: 'STRING' } }, outputs: [], output: true }
		};
	}

	public static async start(options: FakeComfyUIOptions = {}): Promise<FakeComfyUIServer> {
		const fake = new FakeComfyUIServer(options);
		fake.#server = await LoopbackServer.listen((request, response) => {
			response.on('error', () => undefined);
			fake.#handle(request, response).catch((error: unknown) => {
				if (!response.headersSent) json(response, 500, { error: String(error) });
				else response.destroy();
			});
		});
		fake.#server.onUpgrade((request, socket, head) => fake.#upgrade(request, socket, head));
		return fake;
	}

	public get url(): string {
		if (!this.#server) throw new Error('the fake is not listening');
		return this.#server.url;
	}

	/** The next submitted prompts get these behaviours, one each, in order. */
	public script(...scripts: PromptScript[]): this {
		this.#scripts.push(...scripts);
		return this;
	}

	/** The next `times` requests to `route` ("POST /prompt") get this answer instead. */
	public failNext(route: string, status: number, body: unknown = { error: 'fake failure' }, times = 1): this {
		this.#httpFaults.push({ route, status, body, remaining: times });
		return this;
	}

	/** Stops starting prompts: they wait in the queue (their clients see their place) until `release()`. */
	public hold(): void {
		this.#held = true;
	}

	public release(): void {
		this.#held = false;
		this.#pump();
	}

	/** Queues prompts of another client ahead of whatever comes next. */
	public enqueueForeign(count: number): void {
		for (let index = 0; index < count; index++) {
			const prompt: SubmittedPrompt = { id: randomUUID(), number: this.#number++, clientId: undefined, workflow: {} };
			this.#pending.push({ prompt, script: { kind: 'run' }, foreign: true });
		}
		this.#broadcastStatus();
	}

	/** Requests to `path` (without the query). */
	public requestsTo(method: string, path: string): RecordedRequest[] {
		return this.requests.filter((request) => request.method === method && request.path === path);
	}

	public async close(): Promise<void> {
		for (const client of this.#wss.clients) client.terminate();
		this.#wss.close();
		this.#runningAbort?.();
		await this.#server?.close();
	}

	async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		const body = await readBody(request);
		const record: RecordedRequest = { method: request.method ?? '', path: url.pathname, query: url.searchParams, headers: request.headers };
		this.requests.push(record);
		if (!this.#authorised(request.headers)) return json(response, 401, { error: 'Unauthorized' });
		const isJson = (request.headers['content-type'] ?? '').startsWith('application/json');
		if (isJson) {
			try {
				record.json = JSON.parse(body.toString('utf8'));
			} catch {
				return json(response, 400, { error: 'invalid json' });
			}
		}
		// Every route also answers under /api/.
		const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
		const route = `${request.method} ${path}`;
		const fault = this.#httpFaults.find((entry) => entry.route === route && entry.remaining > 0);
		if (fault) {
			fault.remaining--;
			return json(response, fault.status, fault.body);
		}
		if (route === 'POST /prompt') return this.#prompt(record.json, response);
		if (route === 'GET /queue') return json(response, 200, this.#queueSnapshot());
		if (route === 'POST /queue') return this.#queueChange(record.json, response);
		if (route === 'POST /interrupt') return this.#interrupt(record.json, response);
		if (route === 'POST /upload/image') return this.#upload(request, body, response);
		if (route === 'GET /view') return this.#view(url.searchParams, response);
		// ComfyUI's server.py: the system's versions and each device.
		if (route === 'GET /system_stats') {
			return json(response, 200, {
				system: { os: 'posix', python_version: '3.11.7', embedded_python: false, comfyui_version: '0.3.40' },
				devices: [
					{
						name: 'cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync',
						type: 'cuda',
						index: 0,
						vram_total: 25_393_692_672,
						vram_free: 24_000_000_000
					}
				]
			});
		}
		const history = /^\/history\/([^/]+)$/.exec(path);
		if (request.method === 'GET' && history) {
			const id = decodeURIComponent(history[1] as string);
			const entry = this.#history.get(id);
			return json(response, 200, entry ? { [id]: entry } : {});
		}
		return json(response, 404, { error: 'Not Found' });
	}

	#authorised(headers: IncomingHttpHeaders): boolean {
		return Object.entries(this.#options.requiredHeaders).every(([name, value]) => headers[name.toLowerCase()] === value);
	}

	#upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
		if (path !== '/ws' || this.#options.websocket === 'refuse' || !this.#authorised(request.headers)) {
			const status = this.#authorised(request.headers) ? '404 Not Found' : '401 Unauthorized';
			socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
			return;
		}
		const clientId = url.searchParams.get('clientId');
		this.sockets.push({ clientId, headers: request.headers });
		this.#wss.handleUpgrade(request, socket, head, (ws) => {
			const id = clientId ?? randomUUID();
			const set = this.#clients.get(id) ?? new Set();
			set.add(ws);
			this.#clients.set(id, set);
			ws.on('close', () => set.delete(ws));
			ws.on('error', () => undefined);
			ws.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: this.#remaining() } }, sid: id } }));
		});
	}

	#prompt(body: unknown, response: ServerResponse): void {
		if (!isRecord(body) || !isRecord(body.prompt)) {
			return json(response, 400, {
				error: { type: 'no_prompt', message: 'No prompt provided', details: '', extra_info: {} },
				node_errors: {}
			});
		}
		const workflow = body.prompt as SubmittedPrompt['workflow'];
		const refusal = this.#validate(workflow);
		if (refusal) return json(response, 400, refusal);
		const prompt: SubmittedPrompt = {
			id: randomUUID(),
			number: this.#number++,
			clientId: typeof body.client_id === 'string' ? body.client_id : undefined,
			workflow
		};
		if (prompt.clientId === undefined) this.problems.push('POST /prompt without client_id');
		this.prompts.push(prompt);
		this.#pending.push({ prompt, script: this.#scripts.shift() ?? { kind: 'run' }, foreign: false });
		json(response, 200, { prompt_id: prompt.id, number: prompt.number, node_errors: {} });
		this.#broadcastStatus();
		this.#pump();
	}

	/** ComfyUI's own checks, in its answer's shape. */
	#validate(workflow: SubmittedPrompt['workflow']): Record<string, unknown> | null {
		const text = JSON.stringify(workflow);
		if (/\{\{[^}]*\}\}/.test(text)) this.problems.push(`a placeholder was left unfilled: ${/\{\{[^}]*\}\}/.exec(text)?.[0]}`);
		for (const [id, node] of Object.entries(workflow)) {
			if (!isRecord(node) || typeof node.class_type !== 'string') {
				return refusal('invalid_prompt', `Cannot execute because a node is missing the class_type property.`, `Node ID '#${id}'`);
			}
			if (!(node.class_type in this.#classes)) {
				return refusal('invalid_prompt', `Cannot execute because node ${node.class_type} does not exist.`, `Node ID '#${id}'`);
			}
		}
		const nodeErrors: Record<string, unknown> = {};
		for (const [id, node] of Object.entries(workflow)) {
			const errors = this.#nodeErrors(workflow, node);
			if (errors.length > 0) nodeErrors[id] = { errors, dependent_outputs: [], class_type: node.class_type };
		}
		const outputs = Object.values(workflow).filter((node) => this.#classes[node.class_type]?.output);
		if (outputs.length === 0) return refusal('prompt_no_outputs', 'Prompt has no outputs', '');
		if (Object.keys(nodeErrors).length > 0) {
			return {
				error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} },
				node_errors: nodeErrors
			};
		}
		return null;
	}

	#nodeErrors(workflow: SubmittedPrompt['workflow'], node: SubmittedPrompt['workflow'][string]): Record<string, unknown>[] {
		const spec = this.#classes[node.class_type] as NodeClass;
		const errors: Record<string, unknown>[] = [];
		const inputs = isRecord(node.inputs) ? node.inputs : {};
		const error = (type: string, message: string, details: string) => errors.push({ type, message, details, extra_info: {} });
		for (const [name, input] of Object.entries(spec.inputs)) {
			const value = inputs[name];
			if (value === undefined) {
				error('required_input_missing', 'Required input is missing', name);
				continue;
			}
			if (input.type === 'LINK') {
				const [from, index] = Array.isArray(value) ? (value as unknown[]) : [];
				const source = workflow[String(from)];
				const produced = source ? this.#classes[source.class_type]?.outputs[Number(index)] : undefined;
				if (produced !== input.of)
					error('return_type_mismatch', 'Return type mismatch between linked nodes', `${name}, ${String(produced)} != ${input.of}`);
				continue;
			}
			if (Array.isArray(value)) {
				error('bad_linked_input', 'Bad linked input', name);
				continue;
			}
			switch (input.type) {
				case 'INT':
					if (typeof value !== 'number' || !Number.isInteger(value))
						error('invalid_input_type', `Failed to convert an input value to a INT value`, `${name}, ${String(value)}`);
					else if (value < input.min || value > input.max) error('value_out_of_range', 'Value out of range', `${name}: ${value}`);
					else if (input.step && value % input.step !== 0)
						this.problems.push(`${node.class_type}.${name} ${value} is not a multiple of ${input.step}`);
					break;
				case 'FLOAT':
					if (typeof value !== 'number' || !Number.isFinite(value))
						error('invalid_input_type', 'Failed to convert an input value to a FLOAT value', `${name}, ${String(value)}`);
					else if (value < input.min || value > input.max) error('value_out_of_range', 'Value out of range', `${name}: ${value}`);
					break;
				case 'STRING':
					if (typeof value !== 'string')
						error('invalid_input_type', 'Failed to convert an input value to a STRING value', `${name}, ${String(value)}`);
					break;
				case 'COMBO': {
					const values = input.values();
					if (typeof value !== 'string' || !values.includes(value)) {
						error('value_not_in_list', 'Value not in list', `${name}: '${String(value)}' not in ${JSON.stringify(values)}`);
					}
					break;
				}
			}
		}
		return errors;
	}

	#queueSnapshot() {
		const entry = ({ prompt }: QueueEntry) => [prompt.number, prompt.id, prompt.workflow, { client_id: prompt.clientId }, []];
		// ComfyUI keeps pending prompts in a heap: the list is not in queue order.
		const pending = [...this.#pending].reverse().map(entry);
		return { queue_running: this.#running ? [entry(this.#running)] : [], queue_pending: pending };
	}

	#queueChange(body: unknown, response: ServerResponse): void {
		if (isRecord(body) && Array.isArray(body.delete)) {
			for (const id of body.delete) {
				this.deleted.push(String(id));
				const index = this.#pending.findIndex((entry) => entry.prompt.id === id);
				if (index !== -1) this.#pending.splice(index, 1);
			}
			this.#broadcastStatus();
		}
		response.writeHead(200).end();
	}

	#interrupt(body: unknown, response: ServerResponse): void {
		this.interrupts.push(body ?? null);
		const target = isRecord(body) && typeof body.prompt_id === 'string' ? body.prompt_id : undefined;
		// Newer ComfyUI interrupts only the prompt named, and only if it is the one running.
		if (this.#running && (target === undefined || target === this.#running.prompt.id)) this.#runningAbort?.();
		response.writeHead(200).end();
	}

	async #upload(request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> {
		let form: Awaited<ReturnType<Request['formData']>>;
		try {
			form = await new Request('http://127.0.0.1/upload/image', {
				method: 'POST',
				headers: { 'content-type': request.headers['content-type'] ?? '' },
				body
			}).formData();
		} catch {
			this.problems.push('upload is not multipart/form-data');
			return json(response, 400, { error: 'not multipart' });
		}
		const image = form.get('image');
		if (!image || typeof image === 'string') {
			this.problems.push('upload without an image file');
			return json(response, 400, { error: 'no image' });
		}
		const data = Buffer.from(await image.arrayBuffer());
		let metadata: sharp.Metadata;
		try {
			metadata = await sharp(data).metadata();
		} catch {
			this.problems.push('uploaded file is not an image');
			return json(response, 400, { error: 'not an image' });
		}
		const subfolder = String(form.get('subfolder') ?? '');
		const type = String(form.get('type') ?? 'input');
		const upload: Upload = {
			name: image.name,
			subfolder,
			type,
			overwrite: form.get('overwrite')?.toString(),
			width: metadata.width ?? 0,
			height: metadata.height ?? 0,
			format: metadata.format ?? ''
		};
		this.uploads.push(upload);
		this.#uploadSizes.set(subfolder ? `${subfolder}/${image.name}` : image.name, { width: upload.width, height: upload.height });
		json(response, 200, { name: image.name, subfolder, type });
	}

	#view(query: URLSearchParams, response: ServerResponse): void {
		const key = `${query.get('type') ?? 'output'}/${query.get('subfolder') ?? ''}/${query.get('filename') ?? ''}`;
		const file = this.#files.get(key);
		if (!file) return json(response, 404, { error: 'not found' });
		response.writeHead(200, { 'content-type': 'image/png', 'content-length': file.length });
		response.end(file);
	}

	#remaining(): number {
		return this.#pending.length + (this.#running ? 1 : 0);
	}

	#broadcastStatus(): void {
		const message = JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: this.#remaining() } } } });
		for (const set of this.#clients.values()) for (const ws of set) ws.send(message);
	}

	#send(clientId: string | undefined, type: string, data: Record<string, unknown>): void {
		if (clientId === undefined) return;
		for (const ws of this.#clients.get(clientId) ?? []) ws.send(JSON.stringify({ type, data }));
	}

	#sendBinary(clientId: string | undefined, frame: Buffer): void {
		if (clientId === undefined) return;
		for (const ws of this.#clients.get(clientId) ?? []) ws.send(frame);
	}

	#pump(): void {
		this.#runner = this.#runner.then(async () => {
			while (!this.#held && !this.#running && this.#pending.length > 0) {
				this.#running = this.#pending.shift() as QueueEntry;
				await this.#execute(this.#running).catch(() => undefined);
				this.#running = null;
				this.#runningAbort = null;
				this.#broadcastStatus();
			}
		});
	}

	async #execute(entry: QueueEntry): Promise<void> {
		const { prompt, script } = entry;
		const client = prompt.clientId;
		const id = prompt.id;
		const messages: HistoryEntry['status']['messages'] = [];
		const event = (type: string, data: Record<string, unknown>) => {
			messages.push([type, data]);
			this.#send(client, type, data);
		};
		const interrupted = new Promise<'interrupted'>((resolve) => (this.#runningAbort = () => resolve('interrupted')));
		const tick = () => Promise.race([new Promise<'tick'>((resolve) => setTimeout(() => resolve('tick'), 2)), interrupted]);
		const stop = (nodeId: string, nodeType: string, executed: string[]) => {
			event('execution_interrupted', { prompt_id: id, node_id: nodeId, node_type: nodeType, executed });
			this.#history.set(id, { prompt, outputs: {}, status: { status_str: 'error', completed: false, messages } });
		};

		event('execution_start', { prompt_id: id, timestamp: Date.now() });
		event('execution_cached', { nodes: [], prompt_id: id, timestamp: Date.now() });
		const outputs: HistoryEntry['outputs'] = {};
		const executed: string[] = [];
		for (const nodeId of executionOrder(prompt.workflow)) {
			const node = prompt.workflow[nodeId] as SubmittedPrompt['workflow'][string];
			this.#send(client, 'executing', { node: nodeId, display_node: nodeId, prompt_id: id });
			if (script.kind === 'stall' && node.class_type === 'KSampler') {
				await interrupted;
				return stop(nodeId, node.class_type, executed);
			}
			if (script.kind === 'executionError' && node.class_type === (script.nodeType ?? 'KSampler')) {
				const data = {
					prompt_id: id,
					node_id: nodeId,
					node_type: node.class_type,
					executed,
					exception_message: script.message,
					exception_type: 'RuntimeError',
					traceback: ['  File "execution.py", line 1, in execute\n'],
					current_inputs: {},
					current_outputs: {},
					timestamp: Date.now()
				};
				event('execution_error', data);
				this.#history.set(id, { prompt, outputs: {}, status: { status_str: 'error', completed: false, messages } });
				return;
			}
			if (node.class_type === 'KSampler') {
				const steps = Math.min(Number(node.inputs.steps), MAX_REPORTED_STEPS);
				for (let step = 1; step <= steps; step++) {
					if ((await tick()) === 'interrupted') return stop(nodeId, node.class_type, executed);
					this.#send(client, 'progress', { value: step, max: steps, prompt_id: id, node: nodeId });
					// A preview frame: event type 1 (PREVIEW_IMAGE), image type 2 (PNG), then the image.
					this.#sendBinary(client, Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), await pngImage(8, 8)]));
				}
				if (script.kind === 'interruptedOnServer') return stop(nodeId, node.class_type, executed);
			}
			if (node.class_type === 'SaveImage') {
				const size = sizeAt(prompt.workflow, node.inputs.images, this.#uploadSizes);
				const filename = `${String(node.inputs.filename_prefix)}_${String(this.#files.size + 1).padStart(5, '0')}_.png`;
				this.#files.set(
					`output//${filename}`,
					script.kind === 'notImage'
						? Buffer.from('Traceback (most recent call last): not an image')
						: await pngImage(size.width, size.height)
				);
				const images = [{ filename, subfolder: '', type: 'output' }];
				outputs[nodeId] = { images };
				if (script.kind !== 'noExecutedMessage') {
					this.#send(client, 'executed', { node: nodeId, display_node: nodeId, output: { images }, prompt_id: id });
				}
			}
			executed.push(nodeId);
		}
		this.#send(client, 'executing', { node: null, prompt_id: id });
		event('execution_success', { prompt_id: id, timestamp: Date.now() });
		this.#history.set(id, { prompt, outputs, status: { status_str: 'success', completed: true, messages } });
	}
}

function refusal(type: string, message: string, details: string): Record<string, unknown> {
	return { error: { type, message, details, extra_info: {} }, node_errors: {} };
}

/** Nodes after the nodes they depend on. */
function executionOrder(workflow: SubmittedPrompt['workflow']): string[] {
	const order: string[] = [];
	const visit = (id: string) => {
		if (order.includes(id) || !workflow[id]) return;
		for (const value of Object.values(workflow[id].inputs)) if (Array.isArray(value)) visit(String(value[0]));
		order.push(id);
	};
	for (const id of Object.keys(workflow)) visit(id);
	return order;
}

/** The pixel size of what a link carries: latents and images through decode, encode, model upscales and scaling. */
function sizeAt(
	workflow: SubmittedPrompt['workflow'],
	linked: unknown,
	uploads: Map<string, { width: number; height: number }>
): { width: number; height: number } {
	const node = Array.isArray(linked) ? workflow[String(linked[0])] : undefined;
	if (!node) return { width: 64, height: 64 };
	const inputs = node.inputs;
	switch (node.class_type) {
		case 'EmptyLatentImage':
			return { width: Number(inputs.width), height: Number(inputs.height) };
		case 'LoadImage':
			return uploads.get(String(inputs.image)) ?? { width: 64, height: 64 };
		case 'KSampler':
			return sizeAt(workflow, inputs.latent_image, uploads);
		case 'VAEDecode':
			return sizeAt(workflow, inputs.samples, uploads);
		case 'VAEEncode': {
			// The VAE crops to multiples of 8.
			const size = sizeAt(workflow, inputs.pixels, uploads);
			return { width: Math.floor(size.width / 8) * 8, height: Math.floor(size.height / 8) * 8 };
		}
		case 'ImageUpscaleWithModel': {
			const size = sizeAt(workflow, inputs.image, uploads);
			return { width: size.width * 4, height: size.height * 4 };
		}
		case 'ImageScaleBy': {
			const size = sizeAt(workflow, inputs.image, uploads);
			const scale = Number(inputs.scale_by);
			return { width: Math.round(size.width * scale), height: Math.round(size.height * scale) };
		}
		default:
			return { width: 64, height: 64 };
	}
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function json(response: ServerResponse, status: number, value: unknown): void {
	const text = JSON.stringify(value);
	response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
	response.end(text);
}
