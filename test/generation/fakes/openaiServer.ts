import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import sharp from 'sharp';
import { Request } from 'undici';
import { pngImage } from './images.js';
import { LoopbackServer, readBody } from './loopbackServer.js';

/**
 * An OpenAI Images API stand-in on 127.0.0.1, written from OpenAI's API reference ("Images": create, edit; "Error
 * codes"; "Rate limits" headers): `POST <base>/images/generations` (JSON) and `POST <base>/images/edits`
 * (multipart). It checks the key, the content types, every field against what each model accepts (sizes,
 * qualities, prompt lengths; `response_format` refused for gpt-image models, unknown parameters such as
 * `seed` refused as the API does), decodes uploaded images, and answers `{ created, data: [{ b64_json }],
 * usage }` with a real PNG of the size asked. Errors are `{ error: { message, type, param, code } }`.
 * `<base>` is any path prefix (Azure's /openai/v1, a proxy's), so the client's base URL is what is tested.
 */

export const OPENAI_TEST_KEY = 'sk-proj-TEST0123456789abcdefSECRETopenaiKEY';

export type OpenAIFault =
	| {
			kind: 'error';
			status: number;
			code: string | null;
			type?: string;
			message?: string;
			headers?: Record<string, string>;
			/** Azure's addition to a content-filter refusal. */
			innerError?: Record<string, unknown>;
	  }
	/** 200 whose b64_json is not an image. */
	| { kind: 'notImage' }
	/** 200 with a URL and no b64_json (what dall-e answers without response_format). */
	| { kind: 'urlOnly' }
	/** 200 with an image of this size, whatever was asked (a misbehaving compatible server). */
	| { kind: 'imageOfSize'; width: number; height: number }
	/** Reads the request and never answers. */
	| { kind: 'noHeaders' };

interface ModelRules {
	sizes: string[];
	qualities: string[];
	maxPrompt: number;
	/** Only dall-e models take response_format. */
	responseFormat: boolean;
	edits: boolean;
	usage: boolean;
}

const MODELS: Record<string, ModelRules> = {
	'gpt-image-1': {
		sizes: ['1024x1024', '1536x1024', '1024x1536', 'auto'],
		qualities: ['low', 'medium', 'high', 'auto'],
		maxPrompt: 32_000,
		responseFormat: false,
		edits: true,
		usage: true
	},
	'dall-e-3': {
		sizes: ['1024x1024', '1792x1024', '1024x1792'],
		qualities: ['standard', 'hd'],
		maxPrompt: 4000,
		responseFormat: true,
		edits: false,
		usage: false
	},
	'dall-e-2': {
		sizes: ['256x256', '512x512', '1024x1024'],
		qualities: ['standard'],
		maxPrompt: 1000,
		responseFormat: true,
		edits: true,
		usage: false
	}
};
MODELS['gpt-image-1-mini'] = MODELS['gpt-image-1'] as ModelRules;

const GENERATION_FIELDS = [
	'model',
	'prompt',
	'n',
	'size',
	'quality',
	'response_format',
	'style',
	'background',
	'moderation',
	'output_format',
	'output_compression',
	'user'
];
const EDIT_FIELDS = [
	'model',
	'prompt',
	'n',
	'size',
	'quality',
	'response_format',
	'image',
	'image[]',
	'mask',
	'background',
	'output_format',
	'user'
];

export interface RecordedRequest {
	method: string;
	/** The path as sent, without the query. */
	path: string;
	query: URLSearchParams;
	headers: IncomingHttpHeaders;
	/** The JSON body, or the multipart fields (files summarised). */
	fields: Record<string, unknown>;
}

export interface FilePart {
	filename: string;
	type: string;
	width: number;
	height: number;
	format: string;
}

export class FakeOpenAIServer {
	public readonly requests: RecordedRequest[] = [];
	#server: LoopbackServer | null = null;
	readonly #faults: OpenAIFault[] = [];
	readonly #apiKey: string | null;

	private constructor(apiKey: string | null) {
		this.#apiKey = apiKey;
	}

	/** `apiKey: null` is a compatible server without authentication. */
	public static async start(options: { apiKey?: string | null } = {}): Promise<FakeOpenAIServer> {
		const fake = new FakeOpenAIServer(options.apiKey === undefined ? OPENAI_TEST_KEY : options.apiKey);
		fake.#server = await LoopbackServer.listen((request, response) => {
			response.on('error', () => undefined);
			fake.#handle(request, response).catch((error: unknown) => {
				if (!response.headersSent) sendError(response, 500, 'server_error', String(error), null);
				else response.destroy();
			});
		});
		return fake;
	}

	public get url(): string {
		if (!this.#server) throw new Error('the fake is not listening');
		return this.#server.url;
	}

	/** The next requests get these faults, one each, in order. */
	public script(...faults: OpenAIFault[]): this {
		this.#faults.push(...faults);
		return this;
	}

	public async close(): Promise<void> {
		await this.#server?.close();
	}

	async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		const body = await readBody(request);
		const record: RecordedRequest = {
			method: request.method ?? '',
			path: url.pathname,
			query: url.searchParams,
			headers: request.headers,
			fields: {}
		};
		this.requests.push(record);
		// GET /v1/models lists the models the key may use (API reference, "Models").
		if (request.method === 'GET' && url.pathname.endsWith('/models')) {
			if (this.#apiKey !== null && request.headers.authorization !== `Bearer ${this.#apiKey}`) {
				return sendError(response, 401, 'invalid_api_key', 'Incorrect API key provided.', null);
			}
			response.writeHead(200, { 'content-type': 'application/json' });
			response.end(
				JSON.stringify({
					object: 'list',
					data: ['gpt-image-1', 'dall-e-3'].map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'system' }))
				})
			);
			return;
		}
		const kind = url.pathname.endsWith('/images/generations') ? 'generations' : url.pathname.endsWith('/images/edits') ? 'edits' : null;
		if (!kind || request.method !== 'POST')
			return sendError(response, 404, 'unknown_url', `Invalid URL (${request.method} ${url.pathname})`, null);
		if (this.#apiKey !== null && request.headers.authorization !== `Bearer ${this.#apiKey}`) {
			return sendError(
				response,
				401,
				'invalid_api_key',
				'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
				null
			);
		}
		const contentType = request.headers['content-type'] ?? '';
		if (kind === 'generations') {
			if (!contentType.startsWith('application/json')) return sendError(response, 400, null, 'Expected a JSON body', null);
			try {
				record.fields = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
			} catch {
				return sendError(response, 400, null, 'We could not parse the JSON body of your request.', null);
			}
		} else {
			if (!contentType.startsWith('multipart/form-data; boundary='))
				return sendError(response, 400, null, 'Expected multipart/form-data', null);
			record.fields = await multipartFields(contentType, body);
		}
		const fault = this.#faults.shift();
		if (fault?.kind === 'noHeaders') return;
		if (fault?.kind === 'error') {
			for (const [name, value] of Object.entries(fault.headers ?? {})) response.setHeader(name, value);
			return sendError(response, fault.status, fault.code, fault.message ?? 'fake error', null, fault.type, fault.innerError);
		}
		const refused = check(kind, record.fields);
		if (refused) return sendError(response, 400, refused.code, refused.message, refused.param);
		const model = String(record.fields.model);
		const rules = MODELS[model] as ModelRules;
		const size = String(record.fields.size ?? '1024x1024');
		const [width, height] = (size === 'auto' ? '1024x1024' : size).split('x').map(Number) as [number, number];
		const image =
			fault?.kind === 'notImage'
				? Buffer.from('<html>not an image</html>')
				: fault?.kind === 'imageOfSize'
					? await pngImage(fault.width, fault.height)
					: await pngImage(width, height);
		const data =
			fault?.kind === 'urlOnly' ? [{ url: 'http://169.254.169.254/latest/meta-data/' }] : [{ b64_json: image.toString('base64') }];
		const answer = {
			created: Math.floor(Date.now() / 1000),
			data,
			...(rules.usage
				? {
						usage: {
							total_tokens: 4250,
							input_tokens: 50,
							output_tokens: 4200,
							input_tokens_details: { text_tokens: 40, image_tokens: 10 }
						}
					}
				: {})
		};
		const text = JSON.stringify(answer);
		response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': 'req_fake' });
		response.end(text);
	}
}

/** The API's own checks, in its words; null when the request is fine. */
function check(
	kind: 'generations' | 'edits',
	fields: Record<string, unknown>
): { code: string | null; message: string; param: string | null } | null {
	for (const name of Object.keys(fields)) {
		if (!(kind === 'generations' ? GENERATION_FIELDS : EDIT_FIELDS).includes(name)) {
			return { code: 'unknown_parameter', message: `Unknown parameter: '${name}'.`, param: name };
		}
	}
	const model = fields.model;
	if (typeof model !== 'string' || !(model in MODELS))
		return { code: 'invalid_value', message: `Invalid value for 'model': ${String(model)}.`, param: 'model' };
	const rules = MODELS[model] as ModelRules;
	if (kind === 'edits' && !rules.edits) {
		return { code: 'invalid_value', message: `Invalid value: '${model}'. Value must be 'dall-e-2' or 'gpt-image-1'.`, param: 'model' };
	}
	const prompt = fields.prompt;
	if (typeof prompt !== 'string' || prompt.length === 0)
		return { code: 'missing_required_parameter', message: "Missing required parameter: 'prompt'.", param: 'prompt' };
	if (prompt.length > rules.maxPrompt) {
		return {
			code: 'string_above_max_length',
			message: `Invalid 'prompt': string too long. Expected a maximum length of ${rules.maxPrompt}.`,
			param: 'prompt'
		};
	}
	const n = Number(fields.n ?? 1);
	if (!Number.isInteger(n) || n < 1 || n > 10 || (model === 'dall-e-3' && n !== 1))
		return { code: 'invalid_value', message: `Invalid 'n'.`, param: 'n' };
	if (fields.size !== undefined && !rules.sizes.includes(String(fields.size))) {
		return {
			code: 'invalid_value',
			message: `Invalid value: '${String(fields.size)}'. Supported values are: ${rules.sizes.map((s) => `'${s}'`).join(', ')}.`,
			param: 'size'
		};
	}
	if (fields.quality !== undefined && !rules.qualities.includes(String(fields.quality))) {
		return { code: 'invalid_value', message: `Invalid value: '${String(fields.quality)}'.`, param: 'quality' };
	}
	if (fields.response_format !== undefined) {
		if (!rules.responseFormat)
			return { code: 'unknown_parameter', message: "Unknown parameter: 'response_format'.", param: 'response_format' };
		if (!['url', 'b64_json'].includes(String(fields.response_format)))
			return { code: 'invalid_value', message: 'Invalid response_format.', param: 'response_format' };
	}
	if (kind === 'edits') {
		const image = (fields.image ?? fields['image[]']) as FilePart | string | undefined;
		if (!image || typeof image === 'string')
			return { code: 'missing_required_parameter', message: "Missing required parameter: 'image'.", param: 'image' };
		if (!['png', 'webp', 'jpeg'].includes(image.format))
			return { code: 'invalid_image_format', message: 'Invalid input image - format must be in png, webp, jpeg.', param: 'image' };
	}
	return null;
}

async function multipartFields(contentType: string, body: Buffer): Promise<Record<string, unknown>> {
	const form = await new Request('http://127.0.0.1/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
	const fields: Record<string, unknown> = {};
	for (const [name, value] of form.entries()) {
		if (typeof value === 'string') {
			fields[name] = value;
			continue;
		}
		const data = Buffer.from(await value.arrayBuffer());
		const metadata = await sharp(data)
			.metadata()
			.catch(() => null);
		fields[name] = {
			filename: value.name,
			type: value.type,
			width: metadata?.width ?? 0,
			height: metadata?.height ?? 0,
			format: metadata?.format ?? ''
		} satisfies FilePart;
	}
	return fields;
}

function sendError(
	response: ServerResponse,
	status: number,
	code: string | null,
	message: string,
	param: string | null,
	type = status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error',
	innerError?: Record<string, unknown>
): void {
	const text = JSON.stringify({ error: { message, type, param, code, ...(innerError ? { inner_error: innerError } : {}) } });
	response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
	response.end(text);
}
