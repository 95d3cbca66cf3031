import { afterEach, describe, expect, it } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { FakeA1111Server } from './fakes/a1111Server.js';
import { FakeComfyUIServer } from './fakes/comfyuiServer.js';
import { FakeOpenAIServer, OPENAI_TEST_KEY } from './fakes/openaiServer.js';
import { LoopbackServer } from './fakes/loopbackServer.js';
import { FakeStabilityServer, STABILITY_TEST_KEY } from './fakes/stabilityServer.js';

/*
 * ImageGenerator.probe(): the provider's cheapest authenticated call, against the fakes on 127.0.0.1.
 * Nothing is generated; a wrong answer is a failure value that says which setting to look at.
 */

const closing: { close(): Promise<void> }[] = [];
afterEach(async () => {
	for (const item of closing.splice(0)) await item.close();
});

function generator(options: Parameters<typeof ImageGenerator.create>[0]) {
	const created = ImageGenerator.create({ ...options, http: { maxRetries: 0, retryBaseDelayMs: 0 } });
	closing.push(created);
	return created;
}

describe('probe', () => {
	it('Stability: GET /v1/user/balance with the key, JSON accepted; the credits come back, v1 or v2beta alike', async () => {
		const fake = await FakeStabilityServer.start({ credits: 12.345 });
		closing.push(fake);
		for (const api of ['v2beta', 'v1'] as const) {
			const probe = await generator({ stability: { apiKey: STABILITY_TEST_KEY, host: fake.url, api } }).probe();
			expect(probe).toEqual({ ok: true, detail: 'key accepted; 12.34 credits left', credits: 12.345 });
		}
		expect(fake.requests.map((request) => [request.method, request.path, request.headers.accept])).toEqual([
			['GET', '/v1/user/balance', 'application/json'],
			['GET', '/v1/user/balance', 'application/json']
		]);
		expect(fake.problems).toEqual([]);
	});

	it('Stability behind a path prefix (a proxy) keeps the prefix', async () => {
		const fake = await FakeStabilityServer.start();
		closing.push(fake);
		const probe = await generator({ stability: { apiKey: STABILITY_TEST_KEY, host: `${fake.url}/stability` } }).probe();
		expect(probe.ok).toBe(false);
		expect(fake.requests.map((request) => request.path)).toEqual(['/stability/v1/user/balance']);
	});

	it('Stability: a refused key is AUTH, and the key is in no message', async () => {
		const fake = await FakeStabilityServer.start();
		closing.push(fake);
		const wrong = 'sk-wrongwrongwrongwrongwrong01';
		const probe = await generator({ stability: { apiKey: wrong, host: fake.url } }).probe();
		expect(probe).toMatchObject({ ok: false, reason: 'AUTH' });
		expect(JSON.stringify(probe)).not.toContain(wrong);
	});

	it('Stability: an answer that is not a balance, and an address without the account route, are PROVIDER_ERROR', async () => {
		const fake = await FakeStabilityServer.start();
		const other = await FakeA1111Server.start();
		closing.push(fake, other);
		fake.script({ kind: 'notImage' });
		expect(await generator({ stability: { apiKey: STABILITY_TEST_KEY, host: fake.url } }).probe()).toEqual({
			ok: false,
			reason: 'PROVIDER_ERROR',
			message: 'Stability AI answered the balance request with something else than a balance.'
		});
		expect(await generator({ stability: { apiKey: STABILITY_TEST_KEY, host: other.url } }).probe()).toEqual({
			ok: false,
			reason: 'PROVIDER_ERROR',
			message: "Stability AI has no account endpoint at this address: API_HOST is not Stability's API."
		});
	});

	it('AUTOMATIC1111 without --api (404 on /sdapi) says so; a page that is not the API is PROVIDER_ERROR', async () => {
		// The web UI without --api serves its page and answers 404 {"detail":"Not Found"} under /sdapi.
		const webUi = await LoopbackServer.listen((request, response) => {
			const api = request.url?.startsWith('/sdapi/') === true;
			response.writeHead(api ? 404 : 200, { 'content-type': api ? 'application/json' : 'text/html' });
			response.end(api ? '{"detail":"Not Found"}' : '<html></html>');
		});
		const page = await LoopbackServer.listen((_request, response) => {
			response.writeHead(200, { 'content-type': 'text/html' });
			response.end('<html>a login page</html>');
		});
		closing.push(webUi, page);
		expect(await generator({ provider: 'automatic1111', automatic1111: { host: webUi.url } }).probe()).toMatchObject({
			ok: false,
			reason: 'PROVIDER_ERROR',
			message: expect.stringContaining('start the web UI with --api')
		});
		expect(await generator({ provider: 'automatic1111', automatic1111: { host: page.url } }).probe()).toEqual({
			ok: false,
			reason: 'PROVIDER_ERROR',
			message: "The Stable Diffusion server answered, but not as the web UI's API does: check API_HOST."
		});
	});

	it('preview: always fine, no network; no key for stability: NOT_CONFIGURED', async () => {
		expect(await generator({ provider: 'preview' }).probe()).toMatchObject({ ok: true });
		expect(await generator({ provider: 'stability' }).probe()).toMatchObject({ ok: false, reason: 'NOT_CONFIGURED' });
	});
});

describe('probe of the newer providers', () => {
	it('ComfyUI: GET /system_stats, through the extra headers; its version and device are reported', async () => {
		const fake = await FakeComfyUIServer.start();
		closing.push(fake);
		const probe = await generator({ provider: 'comfyui', comfyui: { url: fake.url } }).probe();
		expect(probe).toEqual({ ok: true, detail: 'ComfyUI 0.3.40 answers on cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync' });
		expect(fake.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /system_stats']);
	});

	it('ComfyUI: another server at the address is PROVIDER_ERROR', async () => {
		const other = await FakeA1111Server.start();
		closing.push(other);
		expect(await generator({ provider: 'comfyui', comfyui: { url: other.url } }).probe()).toMatchObject({
			ok: false,
			reason: 'PROVIDER_ERROR'
		});
	});

	it('OpenAI: GET /models with the key says whether the model is offered; a wrong key is AUTH and never shown', async () => {
		const fake = await FakeOpenAIServer.start();
		closing.push(fake);
		const probe = await generator({ provider: 'openai', openai: { apiKey: OPENAI_TEST_KEY, baseUrl: `${fake.url}/v1` } }).probe();
		expect(probe).toEqual({ ok: true, detail: 'the API answers and accepts the key; gpt-image-1 is available' });
		const wrong = 'sk-proj-wrongwrongwrongwrongwrong0';
		const refused = await generator({ provider: 'openai', openai: { apiKey: wrong, baseUrl: `${fake.url}/v1` } }).probe();
		expect(refused).toMatchObject({ ok: false, reason: 'AUTH' });
		expect(JSON.stringify(refused)).not.toContain(wrong);
	});
});
