import { afterEach, describe, expect, it } from 'vitest';
import { FakeComfyUIServer } from '../generation/fakes/comfyuiServer.js';
import { FakeOpenAIServer, OPENAI_TEST_KEY } from '../generation/fakes/openaiServer.js';
import { USER_A } from '../helpers/storageFixtures.js';
import { cliEnv, jsonOf, newTempDir, removeTempDirs, runInProcess, walkStorage, type CliRun } from './helpers.js';

/*
 * `sapphire-imagine generate` with IMAGE_PROVIDER=comfyui and =openai against the fake servers: exit 0 with the
 * image stored, exit 4 for every provider failure with nothing stored or charged, no secret on stdout or stderr.
 */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
	await Promise.all(closers.splice(0).map((close) => close()));
	await removeTempDirs();
});

interface Json {
	ok?: boolean;
	reason?: string;
	image?: Record<string, unknown>;
}

const PROXY_TOKEN = 'proxy-token-for-the-cli-0123456789';

const generate = (...more: string[]) => ['generate', '--user', USER_A, '--prompt', 'a lighthouse at dusk', ...more];

async function cliWith(env: NodeJS.ProcessEnv) {
	const { root } = await newTempDir();
	const full = cliEnv(root, { LOG_LEVEL: 'trace', ...env });
	return { root, cli: (...argv: string[]) => runInProcess(argv, full) };
}

async function comfy(): Promise<FakeComfyUIServer> {
	const server = await FakeComfyUIServer.start({ requiredHeaders: { 'X-Proxy-Token': PROXY_TOKEN } });
	closers.push(() => server.close());
	return server;
}

async function openai(): Promise<FakeOpenAIServer> {
	const server = await FakeOpenAIServer.start();
	closers.push(() => server.close());
	return server;
}

async function expectNothingCharged(root: string, cli: (...argv: string[]) => Promise<CliRun>): Promise<void> {
	expect((await walkStorage(root)).images.size).toBe(0);
	const status = jsonOf<{ daily: { used: number; pending: number } }>(await cli('status', '--user', USER_A, '--json'));
	expect(status.daily).toMatchObject({ used: 0, pending: 0 });
}

describe('generate with ComfyUI', () => {
	const env = (server: FakeComfyUIServer) => ({
		IMAGE_PROVIDER: 'comfyui',
		COMFYUI_URL: server.url,
		COMFYUI_CHECKPOINT: 'sd_xl_base_1.0.safetensors',
		COMFYUI_HEADERS: JSON.stringify({ 'X-Proxy-Token': PROXY_TOKEN })
	});

	it('stores the image: exit 0, the provider, model and seed in the JSON', async () => {
		const server = await comfy();
		const { cli, root } = await cliWith(env(server));
		const run = await cli(...generate('--seed', '11', '--width', '256', '--height', '256', '--json'));
		expect(run.code, run.stderr).toBe(0);
		expect(jsonOf<Json>(run).image).toMatchObject({
			provider: 'comfyui',
			model: 'sd_xl_base_1.0.safetensors',
			seed: 11,
			width: 256,
			height: 256
		});
		expect((await walkStorage(root)).images.size).toBe(1);
		expect(`${run.stdout}${run.stderr}`).not.toContain(PROXY_TOKEN);
	});

	it('an execution_error exits 4 with PROVIDER_ERROR; nothing stored, nothing charged', async () => {
		const server = await comfy();
		server.script({ kind: 'executionError', message: 'CUDA out of memory' });
		const { cli, root } = await cliWith(env(server));
		const run = await cli(...generate('--json'));
		expect(run.code).toBe(4);
		expect(jsonOf<Json>(run)).toMatchObject({
			ok: false,
			reason: 'PROVIDER_ERROR',
			message: expect.stringContaining('CUDA out of memory')
		});
		await expectNothingCharged(root, cli);
	});

	it('a proxy that refuses the headers exits 4 with AUTH; an address without ComfyUI exits 4 with UNAVAILABLE', async () => {
		const server = await comfy();
		const wrong = await cliWith({ ...env(server), COMFYUI_HEADERS: '{"X-Proxy-Token":"not-the-right-token-value"}' });
		const refused = await wrong.cli(...generate('--json'));
		expect(refused.code).toBe(4);
		expect(jsonOf<Json>(refused).reason).toBe('AUTH');
		expect(`${refused.stdout}${refused.stderr}`).not.toContain('not-the-right-token-value');
		await expectNothingCharged(wrong.root, wrong.cli);

		const settings = env(server);
		await server.close();
		const gone = await cliWith(settings);
		const run = await gone.cli(...generate('--json'));
		expect(run.code).toBe(4);
		expect(jsonOf<Json>(run).reason).toBe('UNAVAILABLE');
	});

	it('a workflow folder that does not exist is a configuration error: exit 2 naming COMFYUI_WORKFLOWS', async () => {
		const server = await comfy();
		const { cli } = await cliWith({ ...env(server), COMFYUI_WORKFLOWS: '/nonexistent/workflows' });
		const run = await cli(...generate('--json'));
		expect(run.code).toBe(2);
		expect(jsonOf<Json>(run)).toMatchObject({ ok: false, reason: 'CONFIG' });
		expect(run.stderr).toContain('COMFYUI_WORKFLOWS');
		expect(server.requests).toHaveLength(0);
	});
});

describe('generate with OpenAI', () => {
	const env = (server: FakeOpenAIServer) => ({
		IMAGE_PROVIDER: 'openai',
		OPENAI_API_KEY: OPENAI_TEST_KEY,
		OPENAI_BASE_URL: `${server.url}/v1`
	});

	it('stores the image with the usage and the inputs OpenAI did not use; the text says there is no seed', async () => {
		const server = await openai();
		const { cli } = await cliWith(env(server));
		const run = await cli(...generate('--negative', 'people', '--seed', '5', '--json'));
		expect(run.code, run.stderr).toBe(0);
		expect(jsonOf<Json>(run).image).toMatchObject({
			provider: 'openai',
			model: 'gpt-image-1',
			unusedInputs: ['seed', 'negativePrompt'],
			usage: { totalTokens: 4250 },
			metadata: { unusedInputs: ['seed', 'negativePrompt'], usage: { inputTokens: 50, outputTokens: 4200, totalTokens: 4250 } }
		});
		const text = await cli(...generate());
		expect(text.stdout).toContain(', no seed, openai/gpt-image-1');
		expect(text.stdout).toContain('Not used by openai: seed.');
		expect(`${run.stdout}${run.stderr}${text.stdout}${text.stderr}`).not.toContain(OPENAI_TEST_KEY);
	});

	it.each([
		['moderation_blocked', 400, 'moderation_blocked', 'CONTENT_FILTERED'],
		['a bad key', 401, 'invalid_api_key', 'AUTH'],
		['no credit left', 429, 'insufficient_quota', 'PROVIDER_ERROR'],
		['a server error', 500, 'server_error', 'PROVIDER_ERROR']
	])('%s (%i %s): exit 4, nothing stored, nothing charged, the key never printed', async (_name, status, code, reason) => {
		const server = await openai();
		server.script(...Array.from({ length: 3 }, () => ({ kind: 'error' as const, status, code, message: `refused ${OPENAI_TEST_KEY}` })));
		const { cli, root } = await cliWith(env(server));
		const run = await cli(...generate('--json'));
		expect(run.code).toBe(4);
		expect(jsonOf<Json>(run).reason).toBe(reason);
		expect(`${run.stdout}${run.stderr}`).not.toContain(OPENAI_TEST_KEY);
		await expectNothingCharged(root, cli);
	});
});
