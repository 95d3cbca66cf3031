import type { UploadedFile } from './requestBody.js';

/** One REST request as the stand-in received it, and what it answered. */
export interface RecordedRequest {
	/** Order of arrival, from 1. */
	seq: number;
	method: string;
	/** The path after the API version, e.g. `/interactions/123/abc/callback`. */
	path: string;
	/** The route that matched, e.g. `POST /interactions/:id/:token/callback`; null for an unknown route (answered 404). */
	route: string | null;
	params: Record<string, string>;
	query: Record<string, string>;
	/** How the request authenticated: a bot token (accepted or not), or none (interaction and webhook routes need none). */
	auth: 'bot' | 'rejected' | 'none';
	/** Parsed JSON (a multipart body's `payload_json`), or null. */
	body: unknown;
	files: UploadedFile[];
	/** `performance.now()` in the stand-in's process when the request's headers arrived. */
	at: number;
	date: Date;
	/** The interaction this call answers (callbacks and webhook calls with an interaction token). */
	interactionId: string | null;
	/** Filled in when the answer is sent. */
	status: number | null;
	response: unknown;
	answeredAt: number | null;
}

/** What happened to one dispatched interaction, in order. */
export interface InteractionTimeline {
	id: string;
	token: string;
	/** `chat-input`, `autocomplete` or `button` (or the raw type number for anything else). */
	kind: string;
	/** The command's name, or the button's custom id. */
	name: string;
	userId: string;
	/** `performance.now()` when the INTERACTION_CREATE frame was written to the gateway socket. */
	dispatchedAt: number;
	dispatchedDate: Date;
	/** Callbacks and webhook calls made with this interaction's id or token, in arrival order (rejected ones too). */
	calls: RecordedRequest[];
}

/** A timeline's calls that are callbacks (`POST /interactions/:id/:token/callback`). */
export function callbacksOf(timeline: InteractionTimeline): RecordedRequest[] {
	return timeline.calls.filter((call) => call.route === CALLBACK_ROUTE);
}

/** Milliseconds from dispatch to the first callback's arrival, or null while there is none. */
export function firstCallbackLatency(timeline: InteractionTimeline): number | null {
	const first = callbacksOf(timeline)[0];
	return first ? first.at - timeline.dispatchedAt : null;
}

export const CALLBACK_ROUTE = 'POST /interactions/:id/:token/callback';

interface Waiter {
	predicate: (request: RecordedRequest) => boolean;
	resolve: (request: RecordedRequest) => void;
}

/**
 * Every REST request the stand-in received, and every dispatched interaction's timeline. A benchmark reads
 * first-callback latencies from the timelines; a test asserts "one acknowledgement, then one outcome".
 */
export class Recorder {
	public readonly requests: RecordedRequest[] = [];
	readonly #interactions = new Map<string, InteractionTimeline>();
	readonly #byToken = new Map<string, InteractionTimeline>();
	readonly #waiters = new Set<Waiter>();

	/** Timelines of every dispatched interaction, in dispatch order. */
	public get interactions(): InteractionTimeline[] {
		return [...this.#interactions.values()];
	}

	public interaction(id: string): InteractionTimeline | undefined {
		return this.#interactions.get(id);
	}

	public interactionByToken(token: string): InteractionTimeline | undefined {
		return this.#byToken.get(token);
	}

	/** Requests whose route matches `route` (e.g. `PUT /applications/:applicationId/commands`). */
	public requestsTo(route: string): RecordedRequest[] {
		return this.requests.filter((request) => request.route === route);
	}

	/** Requests to routes the stand-in does not know (answered 404). */
	public get unknownRoutes(): RecordedRequest[] {
		return this.requests.filter((request) => request.route === null);
	}

	/** Resolves with the first request (received or to come) that matches, once it has been answered. */
	public waitForRequest(predicate: (request: RecordedRequest) => boolean, timeoutMs = 15_000): Promise<RecordedRequest> {
		const found = this.requests.find((request) => request.status !== null && predicate(request));
		if (found) return Promise.resolve(found);
		return new Promise((resolve, reject) => {
			const waiter: Waiter = {
				predicate,
				resolve: (request) => {
					clearTimeout(timer);
					this.#waiters.delete(waiter);
					resolve(request);
				}
			};
			const timer = setTimeout(() => {
				this.#waiters.delete(waiter);
				const seen = this.requests.map((request) => `${request.method} ${request.path} -> ${request.status ?? '…'}`).join('\n  ');
				reject(new Error(`No matching request within ${timeoutMs} ms. Requests so far:\n  ${seen || '(none)'}`));
			}, timeoutMs);
			this.#waiters.add(waiter);
		});
	}

	/** Waits for a call of one interaction that matches (e.g. the edit that carries a file). */
	public waitForInteractionCall(
		interactionId: string,
		predicate: (request: RecordedRequest) => boolean,
		timeoutMs?: number
	): Promise<RecordedRequest> {
		return this.waitForRequest((request) => request.interactionId === interactionId && predicate(request), timeoutMs);
	}

	public trackInteraction(timeline: Omit<InteractionTimeline, 'calls'>): InteractionTimeline {
		const tracked: InteractionTimeline = { ...timeline, calls: [] };
		this.#interactions.set(tracked.id, tracked);
		this.#byToken.set(tracked.token, tracked);
		return tracked;
	}

	public received(request: Omit<RecordedRequest, 'seq' | 'status' | 'response' | 'answeredAt' | 'interactionId'>): RecordedRequest {
		const recorded: RecordedRequest = {
			...request,
			seq: this.requests.length + 1,
			interactionId: null,
			status: null,
			response: null,
			answeredAt: null
		};
		this.requests.push(recorded);
		return recorded;
	}

	/** Ties a request to the interaction it answers (by the id or token in its path). */
	public attribute(request: RecordedRequest, timeline: InteractionTimeline): void {
		request.interactionId = timeline.id;
		timeline.calls.push(request);
	}

	public answered(request: RecordedRequest, status: number, response: unknown, at: number): void {
		request.status = status;
		request.response = response;
		request.answeredAt = at;
		for (const waiter of [...this.#waiters]) if (waiter.predicate(request)) waiter.resolve(request);
	}
}
