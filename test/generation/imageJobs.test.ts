import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { ImageJobs, type JobStatus } from '../../src/plugins/generation/ImageJobs.js';
import { imageWorkLoad } from '../../src/plugins/generation/imageWork.js';
import type { GenerationOptions } from '../../src/plugins/generation/options.js';
import { openTestStorage, USER_A, USER_B } from '../helpers/storageFixtures.js';
import { generationMessages } from '../../src/plugins/generation/GenerationResult.js';
import { FakeStabilityServer, STABILITY_TEST_KEY, type RateLimitRule, type StabilityFault } from './fakes/stabilityServer.js';

type Storage = Awaited<ReturnType<typeof openTestStorage>>;
let storage: Storage | undefined;
let fake: FakeStabilityServer | undefined;
let generator: ImageGenerator | undefined;
afterEach(async () => {
	await generator?.close();
	await fake?.close();
	await storage?.close();
	storage = undefined;
	fake = undefined;
	generator = undefined;
});

const fastHttp: GenerationOptions['http'] = {
	retryBaseDelayMs: 10,
	maxRetries: 2,
	generateTimeoutSeconds: 0.4,
	upscaleTimeoutSeconds: 0.4,
	bodyTimeoutSeconds: 0.4,
	maxRateLimitWaitSeconds: 0.2
};

function jobsWith(options: GenerationOptions, withStorage = true, jobTimeoutMs = 5000) {
	generator ??= ImageGenerator.create(options);
	return new ImageJobs(generator, () => (withStorage ? storage?.manager : undefined), {
		jobTimeoutMs,
		dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 }
	});
}

async function stabilityJobs(more: Partial<GenerationOptions> = {}, rateLimit?: RateLimitRule) {
	fake = await FakeStabilityServer.start(rateLimit ? { rateLimit } : {});
	return jobsWith({ provider: 'stability', stability: { apiKey: STABILITY_TEST_KEY, host: fake.url }, http: fastHttp, ...more });
}

async function storedFiles(root: string, userId: string): Promise<string[]> {
	return readdir(join(root, 'images', 'users', userId)).catch(() => []);
}

describe('the guarded generation job', () => {
	it('reserves, generates, stores the image with its metadata and charges the day', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 2 });
		const jobs = jobsWith({ provider: 'preview' });
		const statuses: JobStatus['state'][] = [];
		const result = await jobs.run({
			kind: 'text-to-image',
			userId: USER_A,
			request: { prompt: 'a lighthouse at dusk', stylePreset: 'analog-film', seed: 42 },
			onStatus: (status) => statuses.push(status.state)
		});
		if (!result.ok) throw new Error(result.message);
		expect(result.stored?.metadata).toMatchObject({
			kind: 'text-to-image',
			prompt: 'a lighthouse at dusk',
			style: 'analog-film',
			seed: 42,
			provider: 'preview',
			preview: true
		});
		expect(result.status?.daily).toMatchObject({ used: 1, remaining: 1, pending: 0 });
		expect(statuses).toContain('saving');
		expect(await storedFiles(storage.root, USER_A)).toHaveLength(2); // the image and its metadata
	});

	it('denies before any paid call when the day is used up', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = await stabilityJobs();
		expect((await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'one' } })).ok).toBe(true);
		const denied = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'two' } });
		expect(denied).toMatchObject({
			ok: false,
			reason: 'DAILY_LIMIT',
			message: expect.stringMatching(/^Daily generation limit reached \(1\/1\)/)
		});
		expect(fake?.requests).toHaveLength(1);
	});

	it('never starts more provider calls than the daily limit allows, however many jobs race', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 3 });
		const jobs = await stabilityJobs();
		const results = await Promise.all(
			Array.from({ length: 12 }, (_, index) => jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: `race ${index}` } }))
		);
		expect(results.filter((result) => result.ok)).toHaveLength(3);
		expect(results.filter((result) => !result.ok && result.reason === 'DAILY_LIMIT')).toHaveLength(9);
		expect(fake?.requests).toHaveLength(3);
		expect((await storedFiles(storage.root, USER_A)).filter((name) => name.endsWith('.png'))).toHaveLength(3);
	});

	it.each<[string, StabilityFault, string, number]>([
		['401', { kind: 'error', status: 401, name: 'unauthorized', message: 'bad key' }, 'AUTH', 1],
		['403 content_moderation', { kind: 'error', status: 403, name: 'content_moderation', message: 'flagged' }, 'CONTENT_FILTERED', 1],
		['a filtered finish reason', { kind: 'filtered' }, 'CONTENT_FILTERED', 1],
		['a 200 that is not an image', { kind: 'notImage' }, 'PROVIDER_ERROR', 1],
		['a server that never answers', { kind: 'noHeaders' }, 'TIMEOUT', 1]
	])('%s: %s, nothing stored, the day refunded', async (_name, fault, reason, requests) => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = await stabilityJobs();
		fake?.script(fault);
		const result = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'a lighthouse' } });
		expect(result).toMatchObject({ ok: false, reason });
		expect(JSON.stringify(result)).not.toContain(STABILITY_TEST_KEY);
		expect(fake?.requests).toHaveLength(requests);
		expect(await storedFiles(storage.root, USER_A)).toEqual([]);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 1 });
	});

	it('5xx: retried a bounded number of times, then refunded', async () => {
		storage = await openTestStorage();
		const jobs = await stabilityJobs();
		const error: StabilityFault = { kind: 'error', status: 500, name: 'server_error', message: 'boom' };
		fake?.script(error, error, error, error);
		const result = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'a lighthouse' } });
		expect(result).toMatchObject({ ok: false, reason: 'PROVIDER_ERROR' });
		expect(fake?.requests).toHaveLength(3);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily.used).toBe(0);
	});

	it('a cancelled job releases its reservation', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = await stabilityJobs();
		fake?.script({ kind: 'noHeaders' });
		const controller = new AbortController();
		const pending = jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'a lighthouse' }, signal: controller.signal });
		setTimeout(() => controller.abort(), 50);
		expect(await pending).toMatchObject({ ok: false, message: expect.stringContaining('cancelled') });
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 1 });
	});

	it('image-to-image and upscale are charged and stored the same way', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 3 });
		const jobs = jobsWith({ provider: 'preview' });
		const first = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'base', width: 256, height: 256 } });
		if (!first.ok) throw new Error(first.message);
		const varied = await jobs.run({
			kind: 'image-to-image',
			userId: USER_A,
			request: { image: first.image.data, prompt: 'more mystical', strength: 0.5 },
			sourceImageId: first.stored?.id
		});
		const upscaled = await jobs.run({
			kind: 'upscale',
			userId: USER_A,
			request: { image: first.image.data },
			sourceImageId: first.stored?.id
		});
		expect(varied.ok && varied.stored?.metadata).toMatchObject({ kind: 'image-to-image', strength: 0.5, sourceImageId: first.stored?.id });
		expect(upscaled.ok && [upscaled.image.width, upscaled.image.height]).toEqual([512, 512]);
		expect(upscaled.ok && upscaled.status?.daily).toMatchObject({ used: 3, remaining: 0 });
	});

	it('works without the storage plugin: no quota, nothing stored', async () => {
		const jobs = jobsWith({ provider: 'preview' }, false);
		const result = await jobs.run({ kind: 'text-to-image', userId: USER_B, request: { prompt: 'unstored' } });
		expect(result).toMatchObject({ ok: true, stored: null, status: null });
	});
});

describe('the queue', () => {
	it('every provider, the offline preview included, works on at most `concurrency` jobs; the others wait and see their place', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 20 });
		const jobs = jobsWith({ provider: 'preview', concurrency: 1 });
		// The preview draws with sharp: while the jobs run, count the drawings under way.
		let mostDrawing = 0;
		const sampler = setInterval(() => (mostDrawing = Math.max(mostDrawing, imageWorkLoad().running)), 1);
		const positions: number[][] = [];
		const results = await Promise.all(
			Array.from({ length: 5 }, (_, index) => {
				const seen: number[] = [];
				positions.push(seen);
				return jobs.run({
					kind: 'text-to-image',
					userId: USER_A,
					request: { prompt: `queued ${index}`, width: 512, height: 512 },
					onStatus: (status) => {
						if (status.state === 'queued') seen.push(status.position);
						if (status.state === 'generating') mostDrawing = Math.max(mostDrawing, generator!.queue.running);
					}
				});
			})
		);
		clearInterval(sampler);
		expect(results.every((result) => result.ok)).toBe(true);
		expect(mostDrawing).toBe(1);
		// One started at once; each other one waited behind those that came before it and moved up as they finished.
		expect(positions.sort((a, b) => a.length - b.length)).toEqual([[], [1], [2, 1], [3, 2, 1], [4, 3, 2, 1]]);
		expect(generator?.queue).toEqual({ running: 0, waiting: 0 });
	});

	it('a job whose time runs out while it waits never reaches the provider, says why, and is refunded', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 10 });
		const patient = await stabilityJobs({ concurrency: 1, http: { ...fastHttp, generateTimeoutSeconds: 5 } });
		const hasty = jobsWith({}, true, 200);
		fake?.script({ kind: 'slow', ms: 1000 });
		const first = patient.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'slow one' } });
		await new Promise((resolve) => setTimeout(resolve, 50));
		const queued = await Promise.all(
			Array.from({ length: 4 }, (_, index) =>
				hasty.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: `too late ${index}` } })
			)
		);
		expect(queued).toEqual(Array.from({ length: 4 }, () => ({ ok: false, reason: 'TIMEOUT', message: generationMessages.queueTimeout })));
		expect(fake?.requests).toHaveLength(1);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 1 });
		expect((await first).ok).toBe(true);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
	});

	it('a queue of 1,000 jobs under the rate limit: no 429, and every job that times out waiting is refunded', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 2000, maxUserStorageMb: 1_000_000, maxGlobalStorageMb: 1_000_000 });
		// Stability's rule (150 requests within a window, then a lock-out), with the window scaled from 10 s to 1 s.
		const rule: RateLimitRule = { maxRequests: 150, windowMs: 1000, lockoutMs: 60_000 };
		await stabilityJobs({ concurrency: 16, http: { ...fastHttp, maxRequestsPerWindow: 150, windowSeconds: 1 } }, rule);
		const timed = jobsWith({}, true, 3000);
		const results = await Promise.all(
			Array.from({ length: 1000 }, (_, index) => timed.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: `job ${index}` } }))
		);
		const succeeded = results.filter((result) => result.ok).length;
		const failures = results.filter((result) => !result.ok);
		expect(fake?.rateLimited).toBe(0);
		expect(succeeded).toBeGreaterThan(0);
		// Three windows of 150 cannot carry 1,000 jobs: the rest timed out, each one refunded.
		expect(failures.length).toBeGreaterThan(0);
		expect(new Set(failures.map((failure) => !failure.ok && failure.reason))).toEqual(new Set(['TIMEOUT']));
		expect(fake?.busiestWindow()).toBeLessThanOrEqual(150);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: succeeded, pending: 0 });
	}, 30_000);
});

describe('unexpected failures', () => {
	it('a status callback that throws changes nothing: the job completes and is charged once', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = jobsWith({ provider: 'preview' });
		const result = await jobs.run({
			kind: 'text-to-image',
			userId: USER_A,
			request: { prompt: 'a lighthouse' },
			onStatus: () => {
				throw new Error('a broken progress renderer');
			}
		});
		expect(result.ok).toBe(true);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
	});

	it('an exception inside a job reaches the caller, releases the reservation and leaves nothing unhandled', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = jobsWith({ provider: 'preview' });
		// A caller bug: an upscale without an image.
		const broken = jobs.run({ kind: 'upscale', userId: USER_A, request: {} as never });
		await expect(broken).rejects.toThrow();
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0, remaining: 1 });
		expect(jobs.running).toBe(0);
	});
});

describe('draining at shutdown', () => {
	it('refuses new jobs, lets running ones finish', async () => {
		storage = await openTestStorage();
		const jobs = jobsWith({ provider: 'preview' });
		const running = jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'finishing' } });
		const drained = jobs.drain(5000);
		expect(await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'too late' } })).toMatchObject({
			ok: false,
			reason: 'UNAVAILABLE',
			message: expect.stringContaining('restarting')
		});
		expect((await running).ok).toBe(true);
		expect(await drained).toEqual({ finished: 1, cancelled: 0 });
	});

	it('cancels what outlives the grace period and refunds it', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = await stabilityJobs();
		fake?.script({ kind: 'noHeaders' });
		const stuck = jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'stuck' } });
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(await jobs.drain(0)).toEqual({ finished: 0, cancelled: 1 });
		expect((await stuck).ok).toBe(false);
		expect((await storage.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
	});
});
