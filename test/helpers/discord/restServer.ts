import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiscordErrors, type DiscordError } from './discordErrors.js';
import type { DiscordState } from './discordState.js';
import type { Faults } from './faults.js';
import type { Recorder, RecordedRequest, InteractionTimeline } from './recorder.js';
import { InvalidBodyError, readBody, type ParsedBody } from './requestBody.js';

/** The API version discord.js 14 speaks; requests under another version are unknown routes. */
export const API_VERSION = 10;

export interface RouteContext {
	params: Record<string, string>;
	query: URLSearchParams;
	body: ParsedBody;
	recorded: RecordedRequest;
}

export interface RouteAnswer {
	status: number;
	body?: unknown;
	headers?: Record<string, string>;
}

export interface Route {
	method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
	/** Discord's path with `:name` parameters, after `/v10`. */
	path: string;
	/** Whether the route needs the bot token (`Authorization: Bot <token>`); interaction and webhook routes do not. */
	auth: boolean;
	/** The interaction a call belongs to, found from its path alone (so it is attributed on arrival). */
	interactionOf?: (params: Record<string, string>) => InteractionTimeline | undefined;
	handle(context: RouteContext): RouteAnswer | DiscordError | Promise<RouteAnswer | DiscordError>;
}

/** A held-back answer the stand-in gave up on because it is stopping: the socket is closed without one. */
const ABANDONED = Symbol('abandoned');

interface CompiledRoute extends Route {
	name: string;
	pattern: RegExp;
	keys: string[];
}

export interface RestServerOptions {
	routes: Route[];
	recorder: Recorder;
	faults: Faults;
	token: string;
	/** Answers requests outside the API (`/attachments/...`, the CDN); returns false when it does not serve the path. */
	serveStatic: (path: string, response: ServerResponse) => boolean;
}

/**
 * The REST side: matches Discord's routes under `/api/v10` (or `/v10`, as discord.js's `rest.api` option
 * builds them), checks the bot token where Discord would, applies the faults in force, records every
 * request and its answer, and answers unknown routes 404 with Discord's error body.
 */
export class RestServer {
	readonly #routes: CompiledRoute[];
	readonly #options: RestServerOptions;
	readonly #pending = new Set<AbortController>();

	public constructor(options: RestServerOptions) {
		this.#options = options;
		this.#routes = options.routes.map((route) => {
			const keys: string[] = [];
			const source = route.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_match, key: string) => {
				keys.push(key);
				return '([^/]+)';
			});
			return { ...route, name: `${route.method} ${route.path}`, pattern: new RegExp(`^${source}$`), keys };
		});
	}

	/** Cancels answers held back by a slow-REST fault (their sockets are closed by the server). */
	public abortPending(): void {
		for (const controller of this.#pending) controller.abort();
	}

	public handle = (request: IncomingMessage, response: ServerResponse): void => {
		void this.#handle(request, response).catch((error: unknown) => {
			if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
			response.end(JSON.stringify({ message: `500: Internal Server Error (${(error as Error).message})`, code: 0 }));
		});
	};

	async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const at = performance.now();
		const date = new Date();
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		if (request.method === 'GET' && this.#options.serveStatic(url.pathname, response)) return;

		const { recorder } = this.#options;
		const versioned = /^(?:\/api)?\/v(\d+)(\/.*)$/.exec(url.pathname);
		// discord.js escapes `@` (`/users/%40me`); routes are matched on the decoded path, as Discord does.
		const path = decodePath(versioned ? versioned[2]! : url.pathname);
		const match = versioned && Number(versioned[1]) === API_VERSION ? this.#match(request.method ?? 'GET', path) : null;
		const recorded = recorder.received({
			method: request.method ?? 'GET',
			path,
			route: match?.route.name ?? null,
			params: match?.params ?? {},
			query: Object.fromEntries(url.searchParams),
			auth: this.#authOf(request),
			body: null,
			files: [],
			at,
			date
		});
		const timeline = match?.route.interactionOf?.(match.params);
		if (timeline) recorder.attribute(recorded, timeline);

		let answer: RouteAnswer | DiscordError | typeof ABANDONED;
		try {
			const body = await readBody(request);
			recorded.body = body.json;
			recorded.files = body.files;
			answer = await this.#answer(match, recorded, url.searchParams, body);
		} catch (error) {
			// A stand-in bug answers 500 and is recorded like any answer, so a test shows it instead of hanging.
			answer =
				error instanceof InvalidBodyError
					? { status: 400, body: { code: 50109, message: error.message } }
					: { status: 500, body: { code: 0, message: `500: Internal Server Error (stand-in: ${(error as Error).message})` } };
		}
		if (answer === ABANDONED) {
			response.destroy();
			return;
		}
		const headers = 'headers' in answer ? (answer.headers ?? {}) : {};
		if (answer.body === undefined || answer.status === 204) {
			response.writeHead(answer.status, headers).end();
		} else {
			response.writeHead(answer.status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(answer.body));
		}
		recorder.answered(recorded, answer.status, answer.body ?? null, performance.now());
	}

	async #answer(
		match: { route: CompiledRoute; params: Record<string, string> } | null,
		recorded: RecordedRequest,
		query: URLSearchParams,
		body: ParsedBody
	): Promise<RouteAnswer | DiscordError | typeof ABANDONED> {
		const { faults } = this.#options;
		if (!match) return DiscordErrors.notFound();
		if (match.route.auth && (recorded.auth !== 'bot' || faults.rejectToken)) return DiscordErrors.unauthorized();
		const delay = faults.delayFor(match.route.name);
		if (delay > 0) {
			const controller = new AbortController();
			this.#pending.add(controller);
			try {
				await sleep(delay, undefined, { signal: controller.signal });
			} catch {
				return ABANDONED;
			} finally {
				this.#pending.delete(controller);
			}
		}
		const limited = faults.takeRateLimit(match.route.name);
		if (limited) return rateLimited(match.route.name, limited.retryAfterMs, limited.scope);
		return match.route.handle({ params: match.params, query, body, recorded });
	}

	#match(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | null {
		for (const route of this.#routes) {
			if (route.method !== method) continue;
			const found = route.pattern.exec(path);
			if (!found) continue;
			const params = Object.fromEntries(route.keys.map((key, index) => [key, found[index + 1]!]));
			return { route, params };
		}
		return null;
	}

	#authOf(request: IncomingMessage): RecordedRequest['auth'] {
		const header = request.headers.authorization;
		if (!header) return 'none';
		return header === `Bot ${this.#options.token}` ? 'bot' : 'rejected';
	}
}

function decodePath(path: string): string {
	try {
		return path
			.split('/')
			.map((segment) => decodeURIComponent(segment))
			.join('/');
	} catch {
		return path;
	}
}

/** A 429 as Discord sends it: the body's `retry_after` in (fractional) seconds, headers per its rate-limit docs. */
function rateLimited(route: string, retryAfterMs: number, scope: 'user' | 'shared' | 'global'): RouteAnswer {
	const seconds = retryAfterMs / 1000;
	const global = scope === 'global';
	return {
		status: 429,
		body: { message: 'You are being rate limited.', retry_after: seconds, global },
		headers: {
			'retry-after': String(Math.max(1, Math.ceil(seconds))),
			'x-ratelimit-limit': '5',
			'x-ratelimit-remaining': '0',
			'x-ratelimit-reset': ((Date.now() + retryAfterMs) / 1000).toFixed(3),
			'x-ratelimit-reset-after': seconds.toFixed(3),
			'x-ratelimit-bucket': Buffer.from(route).toString('hex').slice(0, 32),
			'x-ratelimit-scope': scope,
			...(global ? { 'x-ratelimit-global': 'true' } : {})
		}
	};
}

/** What the route handlers share: the stand-in's state and its timing rules. */
export interface RouteEnvironment {
	state: DiscordState;
	recorder: Recorder;
	/** `http://127.0.0.1:<port>`: attachment URLs point here. */
	baseUrl: () => string;
	/** What `GET /gateway/bot` answers: the gateway's URL and how many sessions may still start. */
	gateway: () => { url: string; sessionsStarted: number };
	/** An interaction not acknowledged within this many ms is gone (Discord: 3 s). */
	acknowledgeWithinMs: number;
	/** An interaction token works this long after the interaction was created (Discord: 15 min). */
	tokenLifetimeMs: number;
}
