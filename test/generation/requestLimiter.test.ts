import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { RequestLimiter } from '../../src/plugins/generation/http/RequestLimiter.js';

const roomy = { maxPerWindow: 1000, windowMs: 1000 };

/** Lets queued promise callbacks run. */
const settle = () => sleep(0);

describe('RequestLimiter', () => {
	it('never has more than maxConcurrent requests active, and runs all of them', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 3, ...roomy });
		let running = 0;
		let highest = 0;
		let finished = 0;
		const work = Array.from({ length: 20 }, async (_, index) => {
			const release = await limiter.acquire();
			running++;
			highest = Math.max(highest, running);
			expect(limiter.active).toBeLessThanOrEqual(3);
			await sleep(2 + (index % 4) * 3);
			running--;
			finished++;
			release();
		});
		await settle();
		expect(limiter.active).toBe(3);
		expect(limiter.queued).toBe(17);
		await Promise.all(work);
		expect(highest).toBe(3);
		expect(finished).toBe(20);
		expect(limiter.active).toBe(0);
		expect(limiter.queued).toBe(0);
	});

	it('serves waiters first in, first out', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 1, ...roomy });
		const order: number[] = [];
		const first = await limiter.acquire();
		const waiters = Array.from({ length: 6 }, async (_, index) => {
			const release = await limiter.acquire();
			order.push(index);
			await sleep(index % 2 === 0 ? 3 : 0);
			release();
		});
		await settle();
		expect(limiter.queued).toBe(6);
		first();
		await Promise.all(waiters);
		expect(order).toEqual([0, 1, 2, 3, 4, 5]);
	});

	it('tells each waiter its place in the queue and updates it as the queue moves', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 1, ...roomy });
		const seen: Record<string, number[]> = { a: [], b: [], c: [] };
		const running = await limiter.acquire();
		const immediate: number[] = [];
		const a = limiter.acquire(undefined, (position) => seen.a?.push(position));
		const b = limiter.acquire(undefined, (position) => seen.b?.push(position));
		const c = limiter.acquire(undefined, (position) => seen.c?.push(position));
		expect(seen).toEqual({ a: [1], b: [2], c: [3] });

		running();
		const releaseA = await a;
		expect(seen).toEqual({ a: [1], b: [2, 1], c: [3, 2] });
		releaseA();
		const releaseB = await b;
		expect(seen).toEqual({ a: [1], b: [2, 1], c: [3, 2, 1] });
		releaseB();
		(await c)();
		expect(seen.c).toEqual([3, 2, 1]);

		// A request that starts at once is never told a position.
		(await limiter.acquire(undefined, (position) => immediate.push(position)))();
		expect(immediate).toEqual([]);
	});

	it('an aborted waiter leaves the queue, rejects with the abort reason, and the others move up', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 1, ...roomy });
		const running = await limiter.acquire();
		const seen: Record<string, number[]> = { a: [], b: [], c: [] };
		const controller = new AbortController();
		const a = limiter.acquire(undefined, (position) => seen.a?.push(position));
		const b = limiter.acquire(controller.signal, (position) => seen.b?.push(position));
		const c = limiter.acquire(undefined, (position) => seen.c?.push(position));
		const reason = new Error('user pressed cancel');
		controller.abort(reason);
		await expect(b).rejects.toBe(reason);
		expect(limiter.queued).toBe(2);
		expect(seen).toEqual({ a: [1], b: [2], c: [3, 2] });

		const order: string[] = [];
		const finish = async (name: string, pending: Promise<() => void>) => {
			const release = await pending;
			order.push(name);
			release();
		};
		running();
		await Promise.all([finish('a', a), finish('c', c)]);
		expect(order).toEqual(['a', 'c']);
		expect(seen.c).toEqual([3, 2, 1]);
		expect(limiter.active).toBe(0);
	});

	it('rejects at once with the reason when the signal is already aborted, and takes no slot', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 1, ...roomy });
		const reason = new Error('gone');
		await expect(limiter.acquire(AbortSignal.abort(reason))).rejects.toBe(reason);
		expect(limiter.active).toBe(0);
		expect(limiter.queued).toBe(0);
	});

	it('an abort after the slot was granted changes nothing', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 1, ...roomy });
		const controller = new AbortController();
		const release = await limiter.acquire(controller.signal);
		controller.abort();
		expect(limiter.active).toBe(1);
		release();
		expect(limiter.active).toBe(0);
	});

	it('starts at most maxPerWindow requests per window; the next waits until the window frees', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 10, maxPerWindow: 3, windowMs: 200 });
		const starts: number[] = [];
		const origin = Date.now();
		await Promise.all(
			Array.from({ length: 5 }, async () => {
				const release = await limiter.acquire();
				starts.push(Date.now() - origin);
				release();
			})
		);
		expect(starts).toHaveLength(5);
		const [s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0] = starts;
		// The first three at once...
		expect(s2 - s0).toBeLessThan(100);
		expect(s1).toBeLessThan(100);
		// ...the 4th and 5th only when the window has moved past the first starts.
		expect(s3 - s0).toBeGreaterThanOrEqual(150);
		expect(s4 - s0).toBeGreaterThanOrEqual(150);
	});

	it('a request holds its place in the window until one window after it ended, not after it started', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 10, maxPerWindow: 1, windowMs: 100 });
		const origin = performance.now();
		const first = await limiter.acquire();
		let secondStartedAt = 0;
		const second = limiter.acquire().then((release) => {
			secondStartedAt = performance.now() - origin;
			return release;
		});
		// A slow answer: the provider may count the request when it arrives or answers, up to 150 ms after the send.
		await sleep(150);
		expect(secondStartedAt).toBe(0);
		const endedAt = performance.now() - origin;
		first();
		(await second)();
		expect(secondStartedAt - endedAt).toBeGreaterThanOrEqual(95);
	});

	it('a waiter held back by the window cap still sees its position and can be aborted', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 10, maxPerWindow: 1, windowMs: 150 });
		const first = await limiter.acquire();
		first();
		const positions: number[] = [];
		const controller = new AbortController();
		const waiting = limiter.acquire(controller.signal, (position) => positions.push(position));
		expect(positions).toEqual([1]);
		expect(limiter.queued).toBe(1);
		controller.abort(new Error('stop'));
		await expect(waiting).rejects.toThrow('stop');
		expect(limiter.queued).toBe(0);
		(await limiter.acquire())();
	});

	// The window is measured on a monotonic clock: a wall clock stepped back (an NTP correction, a resumed VM) must not
	// leave recorded requests "in the future", blocking a full window for as long as the clock jumped.
	it('a wall-clock step backwards does not stall a full window', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 10, maxPerWindow: 1, windowMs: 100 });
		const realNow = Date.now.bind(Date);
		(await limiter.acquire())();
		const jump = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
		try {
			const waiting = limiter.acquire();
			const outcome = await Promise.race([waiting.then(() => 'started'), sleep(1000).then(() => 'stalled')]);
			expect(outcome).toBe('started');
		} finally {
			jump.mockRestore();
		}
	});

	it('a release called twice counts once', async () => {
		const limiter = new RequestLimiter({ maxConcurrent: 2, ...roomy });
		const first = await limiter.acquire();
		const second = await limiter.acquire();
		let thirdStarted = false;
		let fourthStarted = false;
		const third = limiter.acquire().then((release) => {
			thirdStarted = true;
			return release;
		});
		const fourth = limiter.acquire().then((release) => {
			fourthStarted = true;
			return release;
		});
		first();
		first();
		first();
		await settle();
		expect(thirdStarted).toBe(true);
		expect(fourthStarted).toBe(false);
		expect(limiter.active).toBe(2);
		expect(limiter.queued).toBe(1);
		second();
		(await third)();
		(await fourth)();
		expect(limiter.active).toBe(0);
	});
});
