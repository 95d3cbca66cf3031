import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationResult } from '../../src/plugins/generation/GenerationResult.js';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import type { GenerationOptions } from '../../src/plugins/generation/options.js';
import { closedPortUrl } from './fakes/a1111Server.js';
import { FakeComfyUIServer, type FakeComfyUIOptions } from './fakes/comfyuiServer.js';
import { imageSize, pngImage } from './fakes/images.js';

const servers: FakeComfyUIServer[] = [];
const generators: ImageGenerator[] = [];
const dirs: string[] = [];

afterEach(async () => {
	await Promise.all(generators.splice(0).map((generator) => generator.close()));
	await Promise.all(servers.splice(0).map((server) => server.close()));
	await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const http: GenerationOptions['http'] = {
	retryBaseDelayMs: 10,
	generateTimeoutSeconds: 3,
	upscaleTimeoutSeconds: 3,
	bodyTimeoutSeconds: 3
};

async function fake(options: FakeComfyUIOptions = {}): Promise<FakeComfyUIServer> {
	const server = await FakeComfyUIServer.start(options);
	servers.push(server);
	return server;
}

function generatorFor(url: string, comfyui: GenerationOptions['comfyui'] = {}, more: Partial<GenerationOptions> = {}): ImageGenerator {
	const generator = ImageGenerator.create({ provider: 'comfyui', comfyui: { url, ...comfyui }, http, ...more });
	generators.push(generator);
	return generator;
}

function failureOf(result: GenerationResult) {
	if (result.ok) throw new Error('expected a failure');
	return result;
}

async function folderWith(files: Record<string, unknown>): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), 'imagine-workflows-'));
	dirs.push(dir);
	for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), JSON.stringify(content));
	return dir;
}

describe('ComfyUI: text to image', () => {
	it('queues the default workflow with every placeholder filled and returns the saved image', async () => {
		const server = await fake();
		const generator = generatorFor(server.url, { checkpoint: 'sd_xl_base_1.0.safetensors' });
		const result = await generator.textToImage({
			prompt: 'a lighthouse at dusk',
			negativePrompt: 'blurry',
			stylePreset: 'anime',
			width: 640,
			height: 384,
			seed: 4242,
			steps: 25,
			cfgScale: 6.5
		});

		if (!result.ok) throw new Error(result.message);
		expect(result.image).toMatchObject({
			provider: 'comfyui',
			model: 'sd_xl_base_1.0.safetensors',
			seed: 4242,
			width: 640,
			height: 384,
			mimeType: 'image/png',
			preview: false
		});
		expect(result.image.unusedInputs).toBeUndefined();
		expect(await imageSize(result.image.data)).toEqual({ width: 640, height: 384, format: 'png' });
		expect(server.problems).toEqual([]);
		const [prompt] = server.prompts;
		const nodes = Object.values(prompt?.workflow ?? {});
		const byClass = (name: string) => nodes.filter((node) => node.class_type === name).map((node) => node.inputs);
		expect(byClass('CheckpointLoaderSimple')).toEqual([{ ckpt_name: 'sd_xl_base_1.0.safetensors' }]);
		expect(byClass('EmptyLatentImage')).toEqual([{ width: 640, height: 384, batch_size: 1 }]);
		expect(byClass('CLIPTextEncode').map((inputs) => inputs.text)).toEqual(['a lighthouse at dusk, anime style', 'blurry']);
		expect(byClass('KSampler')[0]).toMatchObject({ seed: 4242, steps: 25, cfg: 6.5, denoise: 1 });
		// The prompt is queued under the client id of the websocket the job opened first.
		expect(server.sockets.map((socket) => socket.clientId)).toEqual([prompt?.clientId]);
	});

	it('picks a random seed when none is asked and reports the one it sent', async () => {
		const server = await fake();
		const result = await generatorFor(server.url).textToImage({ prompt: 'a fox' });
		if (!result.ok) throw new Error(result.message);
		const sent = Object.values(server.prompts[0]?.workflow ?? {}).find((node) => node.class_type === 'KSampler')?.inputs.seed;
		expect(result.image.seed).toBeGreaterThan(0);
		expect(sent).toBe(result.image.seed);
		// Nothing asked: the default 512 square (SD 1.5, the default checkpoint) with the default steps and cfg.
		expect([result.image.width, result.image.height]).toEqual([512, 512]);
	});

	it("reports ComfyUI's real queue place, then the start, then each sampler step; preview frames change nothing", async () => {
		const server = await fake();
		server.hold();
		server.enqueueForeign(2);
		const events: string[] = [];
		const pending = generatorFor(server.url).textToImage(
			{ prompt: 'a lighthouse', steps: 20 },
			{
				onQueued: (position) => events.push(`queued ${position}`),
				onStarted: () => events.push('started'),
				onProgress: (value, max) => events.push(`step ${value}/${max}`)
			}
		);
		await until(() => events.includes('queued 3'));
		server.release();
		const result = await pending;

		expect(result.ok).toBe(true);
		const places = events.filter((event) => event.startsWith('queued')).map((event) => Number(event.split(' ')[1]));
		expect(places[0]).toBe(3);
		expect(places).toEqual([...places].sort((a, b) => b - a));
		const started = events.indexOf('started');
		expect(started).toBeGreaterThan(events.lastIndexOf(`queued ${places.at(-1)}`));
		expect(events.slice(started + 1)).toEqual(['step 1/5', 'step 2/5', 'step 3/5', 'step 4/5', 'step 5/5']);
	});

	it('follows the prompt by polling /history when the websocket is refused (a proxy without websockets)', async () => {
		const server = await fake({ websocket: 'refuse' });
		const generator = generatorFor(server.url);
		let started = 0;
		const result = await generator.textToImage({ prompt: 'polled', width: 256, height: 256 }, { onStarted: () => started++ });
		if (!result.ok) throw new Error(result.message);
		expect([result.image.width, result.image.height]).toEqual([256, 256]);
		expect(server.requests.some((request) => request.method === 'GET' && request.path.startsWith('/history/'))).toBe(true);
		expect(server.problems).toEqual([]);
	});

	it('finds the outputs in /history when no executed message came (cached output nodes)', async () => {
		const server = await fake();
		server.script({ kind: 'noExecutedMessage' });
		const result = await generatorFor(server.url).textToImage({ prompt: 'cached', width: 128, height: 128 });
		expect(result.ok && [result.image.width, result.image.height]).toEqual([128, 128]);
	});

	it('sends the extra headers on every request and on the websocket handshake, and a proxy without them says AUTH', async () => {
		const token = 'proxy-token-0123456789-SECRET';
		const server = await fake({ requiredHeaders: { 'X-Proxy-Token': token } });
		const result = await generatorFor(server.url, { headers: { 'X-Proxy-Token': token } }).textToImage({ prompt: 'behind a proxy' });
		expect(result.ok).toBe(true);
		expect(server.requests.every((request) => request.headers['x-proxy-token'] === token)).toBe(true);
		expect(server.sockets.map((socket) => socket.headers['x-proxy-token'])).toEqual([token]);

		const refused = failureOf(
			await generatorFor(server.url, { headers: { 'X-Proxy-Token': 'wrong-token-value' } }).textToImage({ prompt: 'x' })
		);
		expect(refused.reason).toBe('AUTH');
		expect(JSON.stringify(refused)).not.toContain('wrong-token-value');
	});
});

describe('ComfyUI: image to image and upscale', () => {
	it('uploads the input (multipart) and loads it by its uploaded name, with the strength as the denoise', async () => {
		const server = await fake();
		const result = await generatorFor(server.url).imageToImage({
			image: await pngImage(200, 120),
			prompt: 'make it snow',
			strength: 0.6,
			seed: 9
		});

		if (!result.ok) throw new Error(result.message);
		expect(server.uploads).toEqual([
			{
				name: expect.stringMatching(/\.png$/),
				subfolder: 'sapphire-imagine',
				type: 'input',
				overwrite: 'true',
				width: 200,
				height: 120,
				format: 'png'
			}
		]);
		const nodes = Object.values(server.prompts[0]?.workflow ?? {});
		expect(nodes.find((node) => node.class_type === 'LoadImage')?.inputs.image).toBe(`sapphire-imagine/${server.uploads[0]?.name}`);
		expect(nodes.find((node) => node.class_type === 'KSampler')?.inputs).toMatchObject({ denoise: 0.6, seed: 9 });
		expect(result.image).toMatchObject({ seed: 9, width: 200, height: 120 });
		expect(server.problems).toEqual([]);
	});

	it('upscales with the shipped 2x workflow (4x model, then half) to exactly twice the size', async () => {
		const server = await fake();
		const result = await generatorFor(server.url).upscaleImage({ image: await pngImage(96, 64) });
		if (!result.ok) throw new Error(result.message);
		expect(await imageSize(result.image.data)).toMatchObject({ width: 192, height: 128 });
		const nodes = Object.values(server.prompts[0]?.workflow ?? {});
		expect(nodes.map((node) => node.class_type).sort()).toEqual([
			'ImageScaleBy',
			'ImageUpscaleWithModel',
			'LoadImage',
			'SaveImage',
			'UpscaleModelLoader'
		]);
		expect(result.image.provider).toBe('comfyui');
	});

	it('an upscale model that is not installed is refused by ComfyUI: PROVIDER_ERROR naming the file', async () => {
		const server = await fake({ upscaleModels: ['4x-UltraSharp.pth'] });
		const failure = failureOf(await generatorFor(server.url).upscaleImage({ image: await pngImage(64, 64) }));
		expect(failure.reason).toBe('PROVIDER_ERROR');
		expect(failure.message).toContain("RealESRGAN_x4plus.pth' not in");
	});
});

describe("ComfyUI: an owner's workflows", () => {
	it('uses the files of workflowsDir, fills a placeholder inside a longer text, and says a negative prompt was not used', async () => {
		const server = await fake();
		const dir = await folderWith({
			'text-to-image.json': {
				'1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
				'2': { class_type: 'EmptyLatentImage', inputs: { width: '{{width}}', height: '{{height}}', batch_size: 1 } },
				'3': { class_type: 'CLIPTextEncode', inputs: { text: '{{prompt}}, masterpiece, best quality', clip: ['1', 1] } },
				'4': { class_type: 'CLIPTextEncode', inputs: { text: 'lowres', clip: ['1', 1] } },
				'5': {
					class_type: 'KSampler',
					inputs: {
						seed: '{{seed}}',
						steps: 8,
						cfg: 2,
						sampler_name: 'dpmpp_sde',
						scheduler: 'karras',
						denoise: 1,
						model: ['1', 0],
						positive: ['3', 0],
						negative: ['4', 0],
						latent_image: ['2', 0]
					}
				},
				'6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
				'7': { class_type: 'SaveImage', inputs: { filename_prefix: 'mine', images: ['6', 0] } }
			}
		});
		const result = await generatorFor(server.url, { workflowsDir: dir }).textToImage({ prompt: 'a cat', negativePrompt: 'dogs', seed: 5 });

		if (!result.ok) throw new Error(result.message);
		expect(result.image).toMatchObject({ seed: 5, model: 'text-to-image workflow', unusedInputs: ['negativePrompt'] });
		const texts = Object.values(server.prompts[0]?.workflow ?? {})
			.filter((node) => node.class_type === 'CLIPTextEncode')
			.map((node) => node.inputs.text);
		expect(texts).toEqual(['a cat, masterpiece, best quality', 'lowres']);
		expect(server.problems).toEqual([]);
		// The other kinds keep the shipped defaults.
		expect((await generatorFor(server.url, { workflowsDir: dir }).upscaleImage({ image: await pngImage(64, 64) })).ok).toBe(true);
	});

	it('a node ComfyUI does not have is refused with its own words: PROVIDER_ERROR', async () => {
		const server = await fake();
		const dir = await folderWith({
			'upscale.json': {
				'1': { class_type: 'LoadImage', inputs: { image: '{{image}}' } },
				'2': { class_type: 'SUPIR_Upscale', inputs: { image: ['1', 0] } },
				'3': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['2', 0] } }
			}
		});
		const failure = failureOf(await generatorFor(server.url, { workflowsDir: dir }).upscaleImage({ image: await pngImage(64, 64) }));
		expect(failure).toMatchObject({ reason: 'PROVIDER_ERROR', message: expect.stringContaining('node SUPIR_Upscale does not exist') });
	});
});

describe('ComfyUI: faults', () => {
	it("a checkpoint that is not installed: PROVIDER_ERROR with ComfyUI's validation message, nothing queued", async () => {
		const server = await fake();
		const failure = failureOf(await generatorFor(server.url, { checkpoint: 'missing.safetensors' }).textToImage({ prompt: 'x' }));
		expect(failure.reason).toBe('PROVIDER_ERROR');
		expect(failure.message).toMatch(
			/^ComfyUI refused the workflow: Prompt outputs failed validation: CheckpointLoaderSimple: Value not in list: ckpt_name: 'missing.safetensors' not in/
		);
		expect(failure.message.length).toBeLessThan(400);
		expect(server.prompts).toHaveLength(0);
	});

	it('an execution_error inside ComfyUI: PROVIDER_ERROR with the node and the exception', async () => {
		const server = await fake();
		server.script({ kind: 'executionError', message: 'CUDA out of memory. Tried to allocate 2.00 GiB' });
		const failure = failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' }));
		expect(failure).toMatchObject({
			reason: 'PROVIDER_ERROR',
			message:
				'ComfyUI failed while running the workflow: KSampler: CUDA out of memory. Tried to allocate 2.00 GiB. Nothing was charged; try again.'
		});
	});

	it('an execution_error seen by polling (no websocket) is the same PROVIDER_ERROR', async () => {
		const server = await fake({ websocket: 'refuse' });
		server.script({ kind: 'executionError', nodeType: 'VAEDecode', message: 'bad latent' });
		const failure = failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' }));
		expect(failure.message).toContain('VAEDecode: bad latent');
	});

	it('an output that is not an image: PROVIDER_ERROR', async () => {
		const server = await fake();
		server.script({ kind: 'notImage' });
		expect(failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' })).reason).toBe('PROVIDER_ERROR');
	});

	it('a prompt interrupted on the server: PROVIDER_ERROR saying so', async () => {
		const server = await fake();
		server.script({ kind: 'interruptedOnServer' });
		expect(failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' })).message).toContain('interrupted on the server');
	});

	it('a stalled prompt (nothing more on the websocket) is TIMEOUT under the generation time-out, and is interrupted', async () => {
		const server = await fake();
		server.script({ kind: 'stall' });
		const generator = generatorFor(server.url, {}, { http: { ...http, generateTimeoutSeconds: 0.3 } });
		const failure = failureOf(await generator.textToImage({ prompt: 'x' }));
		expect(failure).toMatchObject({ reason: 'TIMEOUT', message: expect.stringContaining('stopped reporting progress') });
		expect(server.interrupts).toEqual([{ prompt_id: server.prompts[0]?.id }]);
	});

	it('a queue that does not move is TIMEOUT too, and the prompt is taken off the queue', async () => {
		const server = await fake();
		server.hold();
		const generator = generatorFor(server.url, {}, { http: { ...http, generateTimeoutSeconds: 0.3 } });
		expect(failureOf(await generator.textToImage({ prompt: 'x' })).reason).toBe('TIMEOUT');
		expect(server.deleted).toEqual([server.prompts[0]?.id]);
		expect(server.interrupts).toEqual([]);
	});

	it('cancelling a queued job deletes its prompt; cancelling a running one interrupts it', async () => {
		const server = await fake();
		const generator = generatorFor(server.url);
		server.hold();
		const queued = new AbortController();
		const waiting = generator.textToImage({ prompt: 'queued' }, { signal: queued.signal, onQueued: () => queued.abort() });
		expect(failureOf(await waiting)).toMatchObject({ reason: 'TIMEOUT', message: expect.stringContaining('cancelled') });
		expect(server.deleted).toEqual([server.prompts[0]?.id]);

		server.release();
		server.script({ kind: 'stall' });
		const running = new AbortController();
		const started = generator.textToImage({ prompt: 'running' }, { signal: running.signal, onStarted: () => running.abort() });
		expect(failureOf(await started).reason).toBe('TIMEOUT');
		expect(server.interrupts).toEqual([{ prompt_id: server.prompts[1]?.id }]);
	});

	it('a 500 on /prompt is retried a bounded number of times, then PROVIDER_ERROR', async () => {
		const server = await fake();
		server.failNext('POST /prompt', 500, { error: 'boom' }, 5);
		expect(failureOf(await generatorFor(server.url).textToImage({ prompt: 'x' })).reason).toBe('PROVIDER_ERROR');
		expect(server.requestsTo('POST', '/prompt')).toHaveLength(3);
	});

	it('an address without ComfyUI, and one nothing listens on', async () => {
		const server = await fake();
		const wrongPath = failureOf(await generatorFor(`${server.url}/not-comfy`).textToImage({ prompt: 'x' }));
		expect(wrongPath).toMatchObject({ reason: 'PROVIDER_ERROR', message: expect.stringContaining('no ComfyUI API at this address') });
		expect(failureOf(await generatorFor(await closedPortUrl()).textToImage({ prompt: 'x' })).reason).toBe('UNAVAILABLE');
	});
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('condition not met in time');
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
}
