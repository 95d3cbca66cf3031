import { printableSummary } from '../httpFailures.js';

/**
 * What ComfyUI says, read defensively: websocket messages (`{ type, data }`), /history entries, /queue
 * snapshots and /prompt refusals. Anything of an unexpected shape reads as "nothing known" rather than
 * throwing: a newer or patched ComfyUI must not break a job.
 */

/** An image a node produced, as /view takes it back. */
export interface ImageRef {
	filename: string;
	subfolder: string;
	type: string;
}

export type ComfyEvent =
	/** The queue changed (sent to every client). */
	| { type: 'status'; promptId?: undefined }
	| { type: 'execution_start'; promptId?: string }
	/** A node starts; `node: null` means the prompt is done. */
	| { type: 'executing'; promptId?: string; node: string | null }
	| { type: 'progress'; promptId?: string; value: number; max: number }
	| { type: 'executed'; promptId?: string; images: ImageRef[] }
	| { type: 'execution_success'; promptId?: string }
	| { type: 'execution_error'; promptId?: string; message: string }
	| { type: 'execution_interrupted'; promptId?: string };

/** A JSON websocket message as an event; null for messages that do not concern a prompt's progress. */
export function parseMessage(text: string): ComfyEvent | null {
	let message: unknown;
	try {
		message = JSON.parse(text);
	} catch {
		return null;
	}
	if (!isRecord(message) || typeof message.type !== 'string') return null;
	const data = isRecord(message.data) ? message.data : {};
	const promptId = typeof data.prompt_id === 'string' ? data.prompt_id : undefined;
	switch (message.type) {
		case 'status':
			return { type: 'status' };
		case 'execution_start':
		case 'execution_success':
		case 'execution_interrupted':
			return { type: message.type, promptId };
		case 'executing':
			return { type: 'executing', promptId, node: typeof data.node === 'string' ? data.node : data.node === null ? null : '' };
		case 'progress': {
			const { value, max } = data;
			if (!isCount(value) || !isCount(max) || max === 0) return null;
			return { type: 'progress', promptId, value: Math.min(value, max), max };
		}
		case 'executed':
			return { type: 'executed', promptId, images: imagesOf(isRecord(data.output) ? data.output.images : undefined) };
		case 'execution_error':
			return { type: 'execution_error', promptId, message: executionErrorText(data) };
		default:
			return null;
	}
}

/** The images of a node's output (`output.images`), keeping only well-formed entries. */
export function imagesOf(images: unknown): ImageRef[] {
	if (!Array.isArray(images)) return [];
	return images.flatMap((image: unknown) =>
		isRecord(image) && typeof image.filename === 'string' && image.filename !== ''
			? [
					{
						filename: image.filename,
						subfolder: typeof image.subfolder === 'string' ? image.subfolder : '',
						type: typeof image.type === 'string' ? image.type : 'output'
					}
				]
			: []
	);
}

/** The image a job delivers: the first saved one (`output`), else a preview (`temp`) from a workflow without SaveImage. */
export function chosenImage(images: readonly ImageRef[]): ImageRef | undefined {
	return images.find((image) => image.type === 'output') ?? images[0];
}

export type HistoryOutcome = { done: false } | { done: true; images: ImageRef[]; error?: string; interrupted?: boolean };

/** `GET /history/{id}`: `{ [id]: { outputs, status: { status_str, completed, messages } } }`, or `{}` while it runs. */
export function historyOutcome(body: unknown, promptId: string): HistoryOutcome {
	const entry = isRecord(body) ? body[promptId] : undefined;
	if (!isRecord(entry)) return { done: false };
	const status = isRecord(entry.status) ? entry.status : {};
	const messages = Array.isArray(status.messages) ? status.messages : [];
	const images = isRecord(entry.outputs)
		? Object.values(entry.outputs).flatMap((output) => (isRecord(output) ? imagesOf(output.images) : []))
		: [];
	if (status.status_str === 'error') {
		const failure = messages.find(
			(item): item is [string, Record<string, unknown>] => Array.isArray(item) && item[0] === 'execution_error'
		);
		if (!failure && messages.some((item) => Array.isArray(item) && item[0] === 'execution_interrupted')) {
			return { done: true, images, interrupted: true };
		}
		return { done: true, images, error: failure && isRecord(failure[1]) ? executionErrorText(failure[1]) : 'the prompt failed' };
	}
	if (status.completed === false) return { done: false };
	return { done: true, images };
}

/** Where a prompt is in `GET /queue` (`{ queue_running, queue_pending }`, entries `[number, prompt_id, ...]`). */
export type QueuePlace = { state: 'running' } | { state: 'pending'; position: number } | { state: 'absent' };

export function queuePlace(body: unknown, promptId: string): QueuePlace | null {
	if (!isRecord(body) || !Array.isArray(body.queue_running) || !Array.isArray(body.queue_pending)) return null;
	const idOf = (entry: unknown) => (Array.isArray(entry) ? entry[1] : undefined);
	if (body.queue_running.some((entry) => idOf(entry) === promptId)) return { state: 'running' };
	const mine = body.queue_pending.find((entry) => idOf(entry) === promptId) as unknown[] | undefined;
	if (!mine) return { state: 'absent' };
	// The pending list is a heap, not in order: the ones ahead are those with a lower number.
	const number = Number(mine[0]);
	const ahead = body.queue_pending.filter((entry) => Array.isArray(entry) && Number(entry[0]) < number).length;
	return { state: 'pending', position: ahead + 1 };
}

/**
 * Why `POST /prompt` refused a workflow (400): `{ error: { message, details }, node_errors: { [id]: { class_type,
 * errors: [{ message, details }] } } }` (older versions send `error` as a string), as one short line such as
 * "Prompt outputs failed validation: CheckpointLoaderSimple: Value not in list: ckpt_name: 'x' not in [...]".
 */
export function refusalText(body: unknown): string {
	if (!isRecord(body)) return '';
	const error = isRecord(body.error) ? body.error : { message: body.error };
	const parts = [error.message, error.details].filter((part): part is string => typeof part === 'string' && part !== '');
	const nodeErrors = isRecord(body.node_errors) ? Object.values(body.node_errors) : [];
	const firstNode = nodeErrors.find(isRecord);
	if (firstNode) {
		const first = Array.isArray(firstNode.errors) ? firstNode.errors.find(isRecord) : undefined;
		const detail = [first?.message, first?.details].filter((part): part is string => typeof part === 'string' && part !== '').join(': ');
		parts.push([firstNode.class_type, detail].filter((part) => typeof part === 'string' && part !== '').join(': '));
	}
	return printableSummary(parts.filter((part) => part !== '').join(': '));
}

/** `execution_error` data: the node's class and the exception's message, e.g. "KSampler: CUDA out of memory". */
function executionErrorText(data: Record<string, unknown>): string {
	const text = [data.node_type, data.exception_message].filter((part) => typeof part === 'string' && part !== '').join(': ');
	return printableSummary(text || 'the prompt failed');
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
	return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
