import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { ImageJobs, type JobStatus } from '../../src/plugins/generation/ImageJobs.js';
import type { GenerationOptions } from '../../src/plugins/generation/options.js';
import { openTestStorage, USER_A } from '../helpers/storageFixtures.js';
import { closedPortUrl } from './fakes/a1111Server.js';
import { FakeComfyUIServer, type PromptScript } from './fakes/comfyuiServer.js';
import { pngImage } from './fakes/images.js';
import { FakeOpenAIServer, OPENAI_TEST_KEY, type OpenAIFault } from './fakes/openaiServer.js';

/*
 * ComfyUI and OpenAI through the guarded job, on a real StorageManager (SQLite ledger, temp folder): a success
 * is stored with what the provider said (usage, the inputs it did not use), and every failure refunds the
 * day and stores nothing.
 */

type Storage = Awaited<ReturnType<typeof openTestStorage>>;
let storage: Storage | undefined;
let generator: ImageGenerator | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
	await generator?.close();
	await Promise.all(closers.splice(0).map((close) => close()));
	await storage?.close();
	storage = undefined;
	generator = undefined;
});

const http: GenerationOptions['http'] = {
	retryBaseDelayMs: 10,
	generateTimeoutSeconds: 0.5,
	upscaleTimeoutSeconds: 0.5,
	bodyTimeoutSeconds: 0.5,
	maxRateLimitWaitSeconds: 0.2
};

function jobsWith(options: GenerationOptions): ImageJobs {
	generator = ImageGenerator.create({ ...options, http });
	return new ImageJobs(generator, () => storage?.manager, {
		jobTimeoutMs: 10_000,
		dailyCost: { textToImage: 1, imageToImage: 1, upscale: 1 }
	});
}

async function comfy(): Promise<{ server: FakeComfyUIServer; jobs: ImageJobs }> {
	const server = await FakeComfyUIServer.start();
	closers.push(() => server.close());
	return { server, jobs: jobsWith({ provider: 'comfyui', comfyui: { url: server.url } }) };
}

async function openai(): Promise<{ server: FakeOpenAIServer; jobs: ImageJobs }> {
	const server = await FakeOpenAIServer.start();
	closers.push(() => server.close());
	return { server, jobs: jobsWith({ provider: 'openai', openai: { apiKey: OPENAI_TEST_KEY, baseUrl: `${server.url}/v1` } }) };
}

async function storedFiles(): Promise<string[]> {
	return readdir(join(storage?.root ?? '', 'images', 'users', USER_A)).catch(() => []);
}

async function expectRefunded(): Promise<void> {
	expect(await storedFiles()).toEqual([]);
	expect((await storage?.manager.getQuotaStatus(USER_A))?.daily).toMatchObject({ used: 0, pending: 0, remaining: 1 });
}

describe('ComfyUI through the guarded job', () => {
	it("stores the image with its metadata and shows ComfyUI's steps in the job status", async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const { jobs, server } = await comfy();
		const statuses: JobStatus[] = [];
		const result = await jobs.run({
			kind: 'text-to-image',
			userId: USER_A,
			request: { prompt: 'a lighthouse', seed: 77, width: 256, height: 256 },
			onStatus: (status) => statuses.push(status)
		});
		if (!result.ok) throw new Error(result.message);
		expect(result.stored?.metadata).toMatchObject({
			kind: 'text-to-image',
			provider: 'comfyui',
			model: 'v1-5-pruned-emaonly.safetensors',
			seed: 77
		});
		expect(
			statuses
				.filter((status) => status.state === 'generating' && status.progress)
				.map((status) => status.state === 'generating' && status.progress)
		).toEqual([1, 2, 3, 4, 5].map((value) => ({ value, max: 5 })));
		expect(statuses.at(-1)).toEqual({ state: 'saving' });
		expect(result.status?.daily).toMatchObject({ used: 1, pending: 0 });
		expect(server.problems).toEqual([]);
	});

	it.each<[string, PromptScript | null, string]>([
		['execution_error', { kind: 'executionError', message: 'CUDA out of memory' }, 'PROVIDER_ERROR'],
		['an output that is not an image', { kind: 'notImage' }, 'PROVIDER_ERROR'],
		['a stalled websocket', { kind: 'stall' }, 'TIMEOUT']
	])('%s: refunded, nothing stored', async (_name, script, reason) => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const { jobs, server } = await comfy();
		if (script) server.script(script);
		expect(await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'x' } })).toMatchObject({ ok: false, reason });
		await expectRefunded();
	});

	it.each<[string, number, string]>([
		['a workflow ComfyUI refuses (400 node_errors)', 400, 'PROVIDER_ERROR'],
		['a proxy that refuses the bot (401)', 401, 'AUTH'],
		['a server error (500)', 500, 'PROVIDER_ERROR']
	])('%s: refunded, nothing stored', async (_name, status, reason) => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const { jobs, server } = await comfy();
		server.failNext('POST /prompt', status, { error: { type: 'x', message: 'refused', details: '' }, node_errors: {} }, 5);
		expect(await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'x' } })).toMatchObject({ ok: false, reason });
		await expectRefunded();
	});

	it('unreachable: refunded, nothing stored; an image-to-image upload that fails too', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = jobsWith({ provider: 'comfyui', comfyui: { url: await closedPortUrl() } });
		expect(await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'x' } })).toMatchObject({
			ok: false,
			reason: 'UNAVAILABLE'
		});
		const image = await pngImage(64, 64);
		expect(await jobs.run({ kind: 'image-to-image', userId: USER_A, request: { image, prompt: 'x' } })).toMatchObject({
			ok: false,
			reason: 'UNAVAILABLE'
		});
		await expectRefunded();
	});

	it('a cancelled job takes its prompt off the queue and is refunded', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const { jobs, server } = await comfy();
		server.hold();
		const controller = new AbortController();
		const result = await jobs.run({
			kind: 'text-to-image',
			userId: USER_A,
			request: { prompt: 'x' },
			signal: controller.signal,
			onStatus: (status) => status.state === 'queued' && controller.abort()
		});
		expect(result).toMatchObject({ ok: false, message: expect.stringContaining('cancelled') });
		expect(server.deleted).toEqual([server.prompts[0]?.id]);
		await expectRefunded();
	});
});

describe('OpenAI through the guarded job', () => {
	it('stores the usage and says in the metadata that the seed and the negative prompt were not used', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const { jobs } = await openai();
		const result = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'a fox', negativePrompt: 'dogs', seed: 9 } });
		if (!result.ok) throw new Error(result.message);
		expect(result.stored?.metadata).toMatchObject({
			provider: 'openai',
			model: 'gpt-image-1',
			negativePrompt: 'dogs',
			unusedInputs: ['seed', 'negativePrompt'],
			usage: { inputTokens: 50, outputTokens: 4200, totalTokens: 4250 }
		});
	});

	it.each<[string, OpenAIFault, string]>([
		['400', { kind: 'error', status: 400, code: 'invalid_value' }, 'INVALID_INPUT'],
		['401', { kind: 'error', status: 401, code: 'invalid_api_key' }, 'AUTH'],
		['429', { kind: 'error', status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after': '30' } }, 'RATE_LIMITED'],
		['500', { kind: 'error', status: 500, code: 'server_error' }, 'PROVIDER_ERROR'],
		['moderation_blocked', { kind: 'error', status: 400, code: 'moderation_blocked' }, 'CONTENT_FILTERED'],
		['an output that is not an image', { kind: 'notImage' }, 'PROVIDER_ERROR']
	])('%s: refunded, nothing stored', async (_name, fault, reason) => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const { jobs, server } = await openai();
		server.script(fault, fault, fault);
		const result = await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'x' } });
		expect(result).toMatchObject({ ok: false, reason });
		expect(JSON.stringify(result)).not.toContain(OPENAI_TEST_KEY);
		await expectRefunded();
	});

	it('unreachable, and an upscale OpenAI cannot do: refunded, nothing stored', async () => {
		storage = await openTestStorage({ maxUserDailyGens: 1 });
		const jobs = jobsWith({ provider: 'openai', openai: { apiKey: OPENAI_TEST_KEY, baseUrl: `${await closedPortUrl()}/v1` } });
		expect(await jobs.run({ kind: 'text-to-image', userId: USER_A, request: { prompt: 'x' } })).toMatchObject({
			ok: false,
			reason: 'UNAVAILABLE'
		});
		const image = await pngImage(64, 64);
		expect(await jobs.run({ kind: 'upscale', userId: USER_A, request: { image } })).toMatchObject({ ok: false, reason: 'UNSUPPORTED' });
		await expectRefunded();
	});
});
