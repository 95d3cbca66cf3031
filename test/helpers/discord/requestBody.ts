import type { IncomingMessage } from 'node:http';

/** A file part of a multipart request (Discord's `files[n]`). */
export interface UploadedFile {
	/** The form field, e.g. `files[0]`. */
	field: string;
	name: string;
	contentType: string | null;
	data: Buffer;
}

export interface ParsedBody {
	/** The JSON body, or a multipart body's `payload_json` (other text fields merged in); null without a body. */
	json: unknown;
	files: UploadedFile[];
	/** The body's size in bytes, as received. */
	bytes: number;
}

/** An unparseable body: Discord answers 400 with code 50109 ("The request body contains invalid JSON"). */
export class InvalidBodyError extends Error {}

/**
 * Reads a request body the way Discord accepts one: `application/json`, or `multipart/form-data` whose
 * `payload_json` field holds the JSON and whose `files[n]` parts hold uploads. Multipart is parsed by the
 * platform's own `Response.formData()` (undici), not by hand.
 */
export async function readBody(request: IncomingMessage): Promise<ParsedBody> {
	const chunks: Buffer[] = [];
	for await (const chunk of request) chunks.push(chunk as Buffer);
	const raw = Buffer.concat(chunks);
	const type = request.headers['content-type'] ?? '';
	if (raw.byteLength === 0) return { json: null, files: [], bytes: 0 };
	if (type.startsWith('multipart/form-data')) return { ...(await parseMultipart(raw, type)), bytes: raw.byteLength };
	try {
		return { json: JSON.parse(raw.toString('utf8')) as unknown, files: [], bytes: raw.byteLength };
	} catch {
		throw new InvalidBodyError('The request body contains invalid JSON.');
	}
}

async function parseMultipart(raw: Buffer, contentType: string): Promise<Omit<ParsedBody, 'bytes'>> {
	let form: FormData;
	try {
		form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
	} catch {
		throw new InvalidBodyError('The multipart body could not be parsed.');
	}
	const files: UploadedFile[] = [];
	const fields: Record<string, unknown> = {};
	let json: unknown = null;
	for (const [field, value] of form) {
		if (typeof value !== 'string') {
			files.push({ field, name: value.name, contentType: value.type || null, data: Buffer.from(await value.arrayBuffer()) });
		} else if (field === 'payload_json') {
			try {
				json = JSON.parse(value) as unknown;
			} catch {
				throw new InvalidBodyError('payload_json is not valid JSON.');
			}
		} else fields[field] = value;
	}
	if (Object.keys(fields).length > 0) json = { ...fields, ...(json as object | null) };
	return { json, files };
}
