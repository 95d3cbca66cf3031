import sharp from 'sharp';
import { afterEach, expect, it } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { ImageJobs, type JobResult } from '../../src/plugins/generation/ImageJobs.js';
import type { ImageProvider } from '../../src/plugins/generation/requests.js';
import type { StorageManager } from '../../src/plugins/storage/StorageManager.js';
import { USER_A, USER_B } from '../helpers/storageFixtures.js';
import { describeEachLedger, type ControlsFixture } from './ledgers.js';

const TIER_ROLE = '333333333333333333';

/**
 * A provider that takes its time and counts the calls under way: what the job caps must bound. It is the bot's
 * own kind of provider (the exported ImageProvider interface), so the jobs run through the real generator.
 */
function countingProvider(holdMs: number, gate?: Promise<void>) {
	const counts = { now: 0, most: 0, calls: 0 };
	const image = sharp({ create: { width: 64, height: 64, channels: 3, background: '#335577' } })
		.png()
		.toBuffer();
	const answer = async () => {
		counts.calls++;
		counts.now++;
		counts.most = Math.max(counts.most, counts.now);
		await (gate ?? new Promise((resolve) => setTimeout(resolve, holdMs)));
		counts.now--;
		const data = await image;
		return {
			ok: true as const,
			image: { data, mimeType: 'image/png', width: 64, height: 64, seed: 1, provider: 'counting', model: 'c-1', preview: false }
		};
	};
	const provider: ImageProvider = {
		name: 'counting',
		model: 'c-1',
		limits: {
			maxPromptLength: 500,
			input: { minSide: 16, maxSide: 1024, maxPixels: 1_048_576 },
			upscaleInput: { minSide: 16, maxSide: 1024, maxPixels: 1_048_576 },
			maxOutputPixels: 4_194_304
		},
		supports: { imageToImage: false, upscale: false },
		resolveSize: () => ({ width: 64, height: 64, aspectRatio: '1:1' }),
		textToImage: answer,
		imageToImage: answer,
		upscale: answer,
		probe: async () => ({ ok: true, detail: 'counting' }),
		close: async () => undefined
	};
	return { provider, counts };
}

let fixture: ControlsFixture | undefined;
const generators: ImageGenerator[] = [];
afterEach(async () => {
	for (const generator of generators.splice(0)) await generator.close();
	await fixture?.close();
	fixture = undefined;
});

function jobsOn(storage: StorageManager, provider: ImageProvider): ImageJobs {
	// The generator's own queue is wide open: only the job caps may hold jobs back.
	const generator = ImageGenerator.create({ provider, concurrency: 64 });
	generators.push(generator);
	return new ImageJobs(generator, () => storage, { jobTimeoutMs: 30_000, dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 } });
}

const run = (jobs: ImageJobs, userId = USER_A, more: { roleIds?: string[]; prompt?: string; signal?: AbortSignal } = {}) =>
	jobs.run({
		kind: 'text-to-image',
		userId,
		roleIds: more.roleIds,
		signal: more.signal,
		request: { prompt: more.prompt ?? 'a lighthouse' }
	});

/**
 * Holds every admitted job until `count` requests have been refused (and a moment more, for the admitted ones still
 * queued behind the refusals to start), so no job ends and frees its place while others still ask, however slow the
 * ledger is today; after `patienceMs` it opens anyway, and a wrong count shows in the tally.
 */
function afterRefusals(count: number, patienceMs = 10_000) {
	let refused = 0;
	let open = () => undefined as void;
	const opened = new Promise<void>((resolve) => {
		open = resolve;
		setTimeout(resolve, patienceMs).unref();
	});
	const watch = async (job: Promise<JobResult>) => {
		const result = await job;
		if (!result.ok && ++refused === count) setTimeout(open, 500);
		return result;
	};
	return { opened, watch };
}

function tally(results: JobResult[]) {
	return {
		ok: results.filter((result) => result.ok).length,
		tooMany: results.filter((result) => !result.ok && result.reason === 'TOO_MANY_JOBS').length
	};
}

describeEachLedger('the job caps', (backend) => {
	it('50 simultaneous requests of one user, 2 at a time and 3 waiting: 5 run (never more than 2 at once), 45 refused', async () => {
		fixture = await backend.open({ maxJobsPerUser: 2, maxQueuedPerUser: 3, maxUserDailyGens: 1000 });
		const refusals = afterRefusals(45);
		const { provider, counts } = countingProvider(0, refusals.opened);
		const jobs = jobsOn(fixture.manager, provider);
		const results = await Promise.all(Array.from({ length: 50 }, () => refusals.watch(run(jobs))));
		expect(tally(results)).toEqual({ ok: 5, tooMany: 45 });
		expect(counts).toMatchObject({ calls: 5, most: 2 });
		const refused = results.find((result) => !result.ok);
		expect(refused?.message).toBe(
			'You have 5 images on the way already, as many as you may (2 at a time, 3 waiting). Try again when one is done; nothing was charged.'
		);
		// Nothing refused was charged; another user was never concerned.
		expect((await fixture.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 5, pending: 0 });
		expect((await run(jobs, USER_B)).ok).toBe(true);
	});

	it('counted across processes sharing the ledger: 25 + 25 simultaneous requests, 5 run in all, at most 2 at once', async () => {
		fixture = await backend.open({ maxJobsPerUser: 2, maxQueuedPerUser: 3, maxUserDailyGens: 1000 });
		const other = await fixture.reopen();
		const refusals = afterRefusals(45);
		const { provider, counts } = countingProvider(0, refusals.opened);
		const here = jobsOn(fixture.manager, provider);
		const there = jobsOn(other, provider);
		const results = await Promise.all(Array.from({ length: 50 }, (_, index) => refusals.watch(run(index % 2 === 0 ? here : there))));
		expect(tally(results)).toEqual({ ok: 5, tooMany: 45 });
		expect(counts).toMatchObject({ calls: 5, most: 2 });
	});

	it("a role tier's caps win over the defaults; a cancelled waiting job gives its place back", async () => {
		fixture = await backend.open({
			maxJobsPerUser: 3,
			maxUserDailyGens: 100,
			roleTiers: [{ name: 'Trial', roleId: TIER_ROLE, dailyGens: 100, storageMb: 100, maxJobs: 1, maxQueued: 1 }]
		});
		// Each call waits until the test lets them all finish: the first job runs for as long as the test needs.
		let finish = () => undefined as void;
		const { provider, counts } = countingProvider(0, new Promise<void>((resolve) => (finish = resolve)));
		const jobs = jobsOn(fixture.manager, provider);
		const roleIds = [TIER_ROLE];
		const first = run(jobs, USER_A, { roleIds });
		// The first job generates before the second asks: which of two simultaneous jobs starts first is not fixed.
		await expect.poll(() => counts.calls, { timeout: 10_000 }).toBe(1);
		const controller = new AbortController();
		const positions: number[] = [];
		const waiting = jobs.run({
			kind: 'text-to-image',
			userId: USER_A,
			roleIds,
			signal: controller.signal,
			request: { prompt: 'second' },
			onStatus: (status) => status.state === 'queued' && positions.push(status.position)
		});
		await expect.poll(() => positions.length, { timeout: 10_000 }).toBeGreaterThan(0);
		expect(await run(jobs, USER_A, { roleIds })).toMatchObject({ ok: false, reason: 'TOO_MANY_JOBS' });
		controller.abort();
		expect(await waiting).toMatchObject({ ok: false, message: expect.stringContaining('cancelled') });
		const third = run(jobs, USER_A, { roleIds });
		await expect
			.poll(() => fixture?.manager.getQuotaStatus(USER_A, { roleIds }).then((status) => status.daily.pending), { timeout: 10_000 })
			.toBe(2);
		finish();
		expect((await first).ok).toBe(true);
		expect((await third).ok).toBe(true);
		expect(positions).toEqual([1]);
		expect(counts).toMatchObject({ calls: 2, most: 1 });
		expect((await fixture.manager.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 2, pending: 0 });
	});

	it('order of refusals: a blocked user, then a blocked prompt, then too many jobs, then the daily limit', async () => {
		fixture = await backend.open({ maxJobsPerUser: 1, maxUserDailyGens: 1, promptBlocklist: ['dragon'] });
		let finish = () => undefined as void;
		const { provider } = countingProvider(0, new Promise<void>((resolve) => (finish = resolve)));
		const jobs = jobsOn(fixture.manager, provider);
		const first = run(jobs);
		await expect.poll(() => fixture?.manager.getQuotaStatus(USER_A).then((status) => status.daily.pending), { timeout: 10_000 }).toBe(1);
		// The day is full (1 running of 1) and so are the jobs: the job cap is named first.
		expect(await run(jobs)).toMatchObject({ reason: 'TOO_MANY_JOBS' });
		expect(await run(jobs, USER_A, { prompt: 'a dragon' })).toMatchObject({ reason: 'PROMPT_BLOCKED' });
		await fixture.manager.controls.block(USER_A, { reason: 'testing' });
		expect(await run(jobs, USER_A, { prompt: 'a dragon' })).toMatchObject({ reason: 'USER_BLOCKED' });
		await fixture.manager.controls.unblock(USER_A);
		finish();
		expect((await first).ok).toBe(true);
		expect(await run(jobs)).toMatchObject({ reason: 'DAILY_LIMIT' });
	});
});
