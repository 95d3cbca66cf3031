import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FormData } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generationMessages } from '../../src/plugins/generation/GenerationResult.js';
import { HttpClient, retryAfterMs, type HttpClientOptions, type HttpOperation } from '../../src/plugins/generation/http/HttpClient.js';

/** What the fake provider saw of one request. */
interface Seen {
	method: string;
	url: string;
	headers: IncomingMessage['headers'];
	body: Buffer;
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen, attempt: number) => void;

let server: Server;
let origin: string;
let handler: Handler;
let requests: Seen[] = [];
const clients: HttpClient[] = [];

beforeAll(async () => {
	server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
			requests.push(seen);
			handler(req, res, seen, requests.length);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
	await Promise.all(clients.splice(0).map((client) => client.close()));
	server.closeAllConnections();
	requests = [];
});

afterAll(async () => {
	server.closeAllConnections();
	await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(options: Partial<HttpClientOptions> = {}): HttpClient {
	const created = new HttpClient({
		origin,
		maxConcurrent: 2,
		maxPerWindow: 100,
		windowMs: 1000,
		maxRetries: 2,
		retryBaseDelayMs: 10,
		maxRateLimitRetries: 2,
		maxRateLimitWaitMs: 5000,
		defaultRateLimitWaitMs: 50,
		...options
	});
	clients.push(created);
	return created;
}

function operation(overrides: Partial<HttpOperation> = {}): HttpOperation {
	return {
		method: 'POST',
		path: '/v2beta/stable-image/generate/core',
		headers: { authorization: 'Bearer sk-test' },
		body: () => JSON.stringify({ prompt: 'a cat' }),
		headersTimeoutMs: 2000,
		bodyTimeoutMs: 2000,
		totalTimeoutMs: 5000,
		maxResponseBytes: 1024 * 1024,
		...overrides
	};
}

function reply(status: number, body: string | Buffer = '', headers: Record<string, string> = {}): Handler {
	return (_req, res) => {
		res.writeHead(status, headers);
		res.end(body);
	};
}

/** Answers each attempt with the next handler; the last one repeats. */
function sequence(...handlers: Handler[]): Handler {
	return (req, res, seen, attempt) => (handlers[Math.min(attempt, handlers.length) - 1] as Handler)(req, res, seen, attempt);
}

const destroySocket: Handler = (req) => req.socket.destroy();
const neverAnswer: Handler = () => undefined;

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
	const started = performance.now();
	const value = await work;
	return { value, ms: performance.now() - started };
}

describe('HttpClient: answers', () => {
	it('returns a 200 body whole, with headers, and sends method, path, headers and body', async () => {
		const image = Buffer.alloc(300_000, 7);
		handler = reply(200, image, { 'content-type': 'image/png', seed: '1234', 'finish-reason': 'SUCCESS' });
		const outcome = await client().request(operation());
		expect(outcome.ok).toBe(true);
		if (!outcome.ok) return;
		expect(outcome.response.status).toBe(200);
		expect(outcome.response.body.equals(image)).toBe(true);
		expect(outcome.response.headers).toMatchObject({ 'content-type': 'image/png', seed: '1234', 'finish-reason': 'SUCCESS' });
		expect(requests).toHaveLength(1);
		expect(requests[0]).toMatchObject({ method: 'POST', url: '/v2beta/stable-image/generate/core' });
		expect(requests[0]?.headers.authorization).toBe('Bearer sk-test');
		expect(requests[0]?.body.toString()).toBe('{"prompt":"a cat"}');
	});

	it('returns a chunked body whole', async () => {
		handler = (_req, res) => {
			res.writeHead(200, { 'content-type': 'application/octet-stream' });
			let sent = 0;
			const timer = setInterval(() => {
				res.write(Buffer.alloc(1000, sent));
				if (++sent === 5) {
					clearInterval(timer);
					res.end();
				}
			}, 5);
		};
		const outcome = await client().request(operation());
		expect(outcome.ok && outcome.response.body.length).toBe(5000);
	});

	it.each([400, 401, 403, 404, 413, 422])('returns a %i at once, without retrying', async (status) => {
		handler = reply(status, JSON.stringify({ name: 'bad', errors: ['nope'] }), { 'content-type': 'application/json' });
		const outcome = await client().request(operation());
		expect(outcome).toMatchObject({ ok: true, response: { status } });
		expect(requests).toHaveLength(1);
	});
});

describe('HttpClient: rate limits (429)', () => {
	it('waits out Retry-After: 1 and then succeeds', async () => {
		handler = sequence(reply(429, '', { 'retry-after': '1' }), reply(200, 'done'));
		const { value, ms } = await timed(client().request(operation()));
		expect(value).toMatchObject({ ok: true, response: { status: 200 } });
		expect(value.ok && value.response.body.toString()).toBe('done');
		expect(requests).toHaveLength(2);
		expect(ms).toBeGreaterThanOrEqual(900);
	});

	it('answers RATE_LIMITED at once when Retry-After is longer than worth waiting', async () => {
		handler = reply(429, '', { 'retry-after': '120' });
		const { value } = await timed(client({ maxRateLimitWaitMs: 5000 }).request(operation()));
		expect(value).toEqual({
			ok: false,
			failure: { ok: false, reason: 'RATE_LIMITED', message: generationMessages.rateLimited(120), retryAfterMs: 120_000 }
		});
		expect(requests).toHaveLength(1);
	});

	it('without Retry-After waits defaultRateLimitWaitMs, retries maxRateLimitRetries times, then RATE_LIMITED', async () => {
		handler = reply(429, '{"name":"rate_limit"}');
		const { value, ms } = await timed(client({ defaultRateLimitWaitMs: 60, maxRateLimitRetries: 2 }).request(operation()));
		expect(value).toMatchObject({ ok: false, failure: { reason: 'RATE_LIMITED', retryAfterMs: 60 } });
		expect(requests).toHaveLength(3);
		expect(ms).toBeGreaterThanOrEqual(100);
	});

	it('a 429 wait counts apart from server-error retries', async () => {
		handler = sequence(reply(503), reply(429, '', { 'retry-after': '0' }), reply(502), reply(200, 'ok'));
		const outcome = await client({ maxRetries: 2, maxRateLimitRetries: 1 }).request(operation());
		expect(outcome).toMatchObject({ ok: true, response: { status: 200 } });
		expect(requests).toHaveLength(4);
	});
});

describe('HttpClient: server errors and dropped connections', () => {
	it('retries a 500 maxRetries times, then returns the 500 for the provider to map', async () => {
		handler = reply(500, '{"name":"internal"}');
		const outcome = await client({ maxRetries: 2 }).request(operation());
		expect(outcome).toMatchObject({ ok: true, response: { status: 500 } });
		expect(outcome.ok && outcome.response.body.toString()).toBe('{"name":"internal"}');
		expect(requests).toHaveLength(3);
	});

	it('succeeds after a 502', async () => {
		handler = sequence(reply(502), reply(200, 'fine'));
		const outcome = await client().request(operation());
		expect(outcome).toMatchObject({ ok: true, response: { status: 200 } });
		expect(requests).toHaveLength(2);
	});

	it('retries a reset connection, then answers UNAVAILABLE', async () => {
		handler = destroySocket;
		const outcome = await client({ maxRetries: 2 }).request(operation());
		expect(outcome).toEqual({ ok: false, failure: { ok: false, reason: 'UNAVAILABLE', message: generationMessages.unavailable } });
		expect(requests).toHaveLength(3);
	});

	it('recovers when a reset connection is followed by an answer', async () => {
		handler = sequence(destroySocket, reply(200, 'back'));
		const outcome = await client().request(operation());
		expect(outcome.ok && outcome.response.body.toString()).toBe('back');
		expect(requests).toHaveLength(2);
	});

	it('answers UNAVAILABLE when nothing listens on the port', async () => {
		const closed = createServer();
		await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
		const port = (closed.address() as AddressInfo).port;
		await new Promise<void>((resolve) => closed.close(() => resolve()));
		const { value } = await timed(client({ origin: `http://127.0.0.1:${port}` }).request(operation()));
		expect(value).toMatchObject({ ok: false, failure: { reason: 'UNAVAILABLE', message: generationMessages.unavailable } });
	});

	it('sends a fresh FormData body on each attempt', async () => {
		const image = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
		let built = 0;
		const form = () => {
			built++;
			const data = new FormData();
			data.set('prompt', 'a cat & a <dog>');
			data.set('seed', '42');
			data.set('image', new Blob([image], { type: 'image/png' }), 'input.png');
			return data;
		};
		handler = sequence(reply(503), reply(200, 'ok'));
		const outcome = await client().request(operation({ body: form, headers: {} }));
		expect(outcome).toMatchObject({ ok: true, response: { status: 200 } });
		expect(built).toBe(2);
		expect(requests).toHaveLength(2);
		for (const seen of requests) {
			expect(seen.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
			const parsed = await new Response(new Uint8Array(seen.body), {
				headers: { 'content-type': seen.headers['content-type'] as string }
			}).formData();
			expect(parsed.get('prompt')).toBe('a cat & a <dog>');
			expect(parsed.get('seed')).toBe('42');
			const file = parsed.get('image') as File;
			expect(file.name).toBe('input.png');
			expect(Buffer.from(await file.arrayBuffer()).equals(image)).toBe(true);
		}
	});
});

describe('HttpClient: time-outs and cancellation', () => {
	// undici runs headers and body time-outs on its coarse "fast timers" (a ~500 ms tick), so a 200 ms time-out fires
	// somewhere between 200 ms and about 1.2 s: the tests bound it from below only.
	it('answers TIMEOUT when the headers never come', async () => {
		handler = neverAnswer;
		const { value, ms } = await timed(client().request(operation({ headersTimeoutMs: 200 })));
		expect(value).toEqual({ ok: false, failure: { ok: false, reason: 'TIMEOUT', message: generationMessages.timeout } });
		expect(ms).toBeGreaterThanOrEqual(150);
		expect(requests).toHaveLength(1);
	});

	it('answers TIMEOUT when the body stalls', async () => {
		handler = (_req, res) => {
			res.writeHead(200, { 'content-type': 'image/png' });
			res.write(Buffer.alloc(100));
		};
		const { value, ms } = await timed(client().request(operation({ bodyTimeoutMs: 200 })));
		expect(value).toMatchObject({ ok: false, failure: { reason: 'TIMEOUT', message: generationMessages.timeout } });
		expect(ms).toBeGreaterThanOrEqual(150);
		expect(requests).toHaveLength(1);
	});

	it('answers TIMEOUT at the total deadline against a body that trickles forever', async () => {
		let timer: NodeJS.Timeout | undefined;
		handler = (_req, res) => {
			res.writeHead(200, { 'content-type': 'image/png' });
			timer = setInterval(() => res.write('x'), 40);
			res.on('close', () => clearInterval(timer));
		};
		try {
			const { value, ms } = await timed(client().request(operation({ bodyTimeoutMs: 200, totalTimeoutMs: 600 })));
			expect(value).toMatchObject({ ok: false, failure: { reason: 'TIMEOUT', message: generationMessages.timeout } });
			expect(ms).toBeGreaterThanOrEqual(550);
		} finally {
			clearInterval(timer);
		}
	});

	it('answers PROVIDER_ERROR for a declared length over the cap, without reading the body', async () => {
		handler = (_req, res) => {
			// Headers only: the body never comes, so a client that waited for it would time out instead.
			res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(50 * 1024 * 1024) });
			res.flushHeaders();
		};
		const { value } = await timed(client().request(operation({ maxResponseBytes: 1024 * 1024, bodyTimeoutMs: 3000 })));
		expect(value).toEqual({ ok: false, failure: { ok: false, reason: 'PROVIDER_ERROR', message: generationMessages.providerError } });
		expect(requests).toHaveLength(1);
	});

	it('answers PROVIDER_ERROR for a chunked body growing over the cap', async () => {
		let written = 0;
		let timer: NodeJS.Timeout | undefined;
		handler = (_req, res) => {
			res.writeHead(200, { 'content-type': 'image/png' });
			timer = setInterval(() => {
				res.write(Buffer.alloc(16 * 1024));
				written += 16 * 1024;
			}, 2);
			res.on('close', () => clearInterval(timer));
		};
		try {
			const { value } = await timed(client().request(operation({ maxResponseBytes: 100 * 1024 })));
			expect(value).toMatchObject({ ok: false, failure: { reason: 'PROVIDER_ERROR' } });
			expect(written).toBeGreaterThan(100 * 1024);
			expect(requests).toHaveLength(1);
		} finally {
			clearInterval(timer);
		}
	});

	it('answers "cancelled" promptly when the caller aborts mid-request', async () => {
		handler = neverAnswer;
		const controller = new AbortController();
		setTimeout(() => controller.abort(), 100);
		const { value } = await timed(client().request(operation({ signal: controller.signal })));
		expect(value).toEqual({ ok: false, failure: { ok: false, reason: 'TIMEOUT', message: generationMessages.cancelled } });
	});

	it('answers "cancelled" when the caller aborts during a 429 wait or a back-off', async () => {
		handler = reply(429, '', { 'retry-after': '3' });
		const controller = new AbortController();
		setTimeout(() => controller.abort(), 100);
		const rateLimited = await timed(client().request(operation({ signal: controller.signal })));
		expect(rateLimited.value).toMatchObject({ ok: false, failure: { reason: 'TIMEOUT', message: generationMessages.cancelled } });

		requests = [];
		handler = reply(503);
		const backOff = new AbortController();
		setTimeout(() => backOff.abort(), 100);
		const retrying = await timed(client({ retryBaseDelayMs: 2000, maxRetries: 3 }).request(operation({ signal: backOff.signal })));
		expect(retrying.value).toMatchObject({ ok: false, failure: { reason: 'TIMEOUT', message: generationMessages.cancelled } });
	});

	it('answers "cancelled" at once for a signal already aborted, sending nothing', async () => {
		handler = reply(200, 'never');
		const outcome = await client().request(operation({ signal: AbortSignal.abort() }));
		expect(outcome).toMatchObject({ ok: false, failure: { reason: 'TIMEOUT', message: generationMessages.cancelled } });
		expect(requests).toHaveLength(0);
	});
});

describe('HttpClient: queue', () => {
	it('tells a request its place in the queue, and when it starts', async () => {
		const pending: ServerResponse[] = [];
		handler = (_req, res) => {
			pending.push(res);
		};
		const http = client({ maxConcurrent: 1 });
		const events: string[] = [];
		const first = http.request(
			operation({ onQueued: (position) => events.push(`first queued ${position}`), onStarted: () => events.push('first started') })
		);
		const second = http.request(
			operation({ onQueued: (position) => events.push(`second queued ${position}`), onStarted: () => events.push('second started') })
		);
		await expect.poll(() => pending.length).toBe(1);
		expect(http.queued).toBe(1);
		// The queued notice is synchronous, the start comes after an await: their order is not part of the contract.
		expect([...events].sort()).toEqual(['first started', 'second queued 1']);
		pending[0]?.end('one');
		await expect.poll(() => pending.length).toBe(2);
		pending[1]?.end('two');
		const [a, b] = await Promise.all([first, second]);
		expect(a.ok && a.response.body.toString()).toBe('one');
		expect(b.ok && b.response.body.toString()).toBe('two');
		expect(events).toHaveLength(3);
		expect(events[2]).toBe('second started');
		expect(http.queued).toBe(0);
	});

	it('fires onStarted again for each retry', async () => {
		handler = sequence(reply(500), reply(200, 'ok'));
		let started = 0;
		const outcome = await client().request(operation({ onStarted: () => started++ }));
		expect(outcome.ok).toBe(true);
		expect(started).toBe(2);
	});
});

describe('retryAfterMs', () => {
	const now = Date.parse('2025-06-01T12:00:00Z');

	it('reads seconds', () => {
		expect(retryAfterMs('1', now)).toBe(1000);
		expect(retryAfterMs('0', now)).toBe(0);
		expect(retryAfterMs('120', now)).toBe(120_000);
		expect(retryAfterMs(' 5 ', now)).toBe(5000);
	});

	it('reads HTTP dates, never negative', () => {
		expect(retryAfterMs('Sun, 01 Jun 2025 12:00:30 GMT', now)).toBe(30_000);
		expect(retryAfterMs(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
		expect(retryAfterMs('Sun, 01 Jun 2025 11:00:00 GMT', now)).toBe(0);
	});

	it('is undefined when absent or unreadable', () => {
		expect(retryAfterMs(undefined, now)).toBeUndefined();
		expect(retryAfterMs('', now)).toBeUndefined();
		expect(retryAfterMs('soon', now)).toBeUndefined();
	});

	// Date.parse's lenient legacy parser reads '-1' and '5, 5' (a Retry-After sent twice, joined by #send) as dates in
	// 2001: were they handed to it, the client would wait 0 ms and retry into the lock-out instead of using
	// defaultRateLimitWaitMs. Only digits count as seconds and only strings starting with a day name as dates.
	it('ignores values that are neither delay-seconds nor an HTTP date', () => {
		expect(retryAfterMs('-1', now)).toBeUndefined();
		expect(retryAfterMs('5, 5', now)).toBeUndefined();
		expect(retryAfterMs('2, 3', now)).toBeUndefined();
	});
});

describe('HttpClient: a rate window shared with other processes', () => {
	it('waits while the shared window is full, sends once it has a place, and ends the place when the request ends', async () => {
		handler = reply(200, 'ok');
		const windows: string[] = [];
		let claims = 0;
		let ended = 0;
		const outcome = await client({
			rateKey: 'sk-test',
			sharedWindows: (key, maxPerWindow, windowMs) => {
				windows.push(`${key} ${maxPerWindow} ${windowMs}`);
				return {
					// Full at first (ask again in 50 ms), then a place.
					claim: async () => (++claims === 1 ? 50 : { end: () => void ended++ })
				};
			}
		}).request(operation());
		expect(outcome.ok).toBe(true);
		expect(claims).toBe(2);
		expect(requests).toHaveLength(1);
		expect(ended).toBe(1);
		// The window is named by a hash of the address and the key, never the key itself.
		expect(windows).toEqual([expect.stringMatching(/^[0-9a-f]{32} 100 1000$/)]);
		expect(windows[0]).not.toContain('sk-test');
	});

	it('a shared window that cannot be reached (its ledger down) leaves the request to this process’s own window', async () => {
		handler = reply(200, 'ok');
		const outcome = await client({
			sharedWindows: () => ({ claim: () => Promise.reject(new Error('ledger unreachable')) })
		}).request(operation());
		expect(outcome.ok).toBe(true);
		expect(requests).toHaveLength(1);
	});
});
