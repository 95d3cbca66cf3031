import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { container, type SapphireClient } from '@sapphire/framework';
import '../../src/plugins/generation/register.js';
import '../../src/plugins/storage/register.js';
import { resolveGenerationOptions } from '../../src/plugins/generation/options.js';
import type { ImageProvider } from '../../src/plugins/generation/requests.js';
import { startWithoutGateway } from '../helpers/sapphireHarness.js';
import { makeTempDir, USER_A } from '../helpers/storageFixtures.js';

/** A bot's own provider: anything that implements the exported ImageProvider interface. */
function ownProvider(calls: string[]): ImageProvider {
	const answer = async () => {
		const data = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#224466' } })
			.png()
			.toBuffer();
		return {
			ok: true as const,
			image: { data, mimeType: 'image/png', width: 64, height: 64, seed: 7, provider: 'in-house', model: 'house-1', preview: false }
		};
	};
	return {
		name: 'in-house',
		model: 'house-1',
		limits: {
			maxPromptLength: 500,
			input: { minSide: 16, maxSide: 1024, maxPixels: 1_048_576 },
			upscaleInput: { minSide: 16, maxSide: 1024, maxPixels: 1_048_576 },
			maxOutputPixels: 4_194_304
		},
		supports: { imageToImage: false, upscale: false },
		resolveSize: () => ({ width: 64, height: 64, aspectRatio: '1:1' }),
		textToImage: async (request) => {
			calls.push(`textToImage ${request.prompt}`);
			return answer();
		},
		imageToImage: answer,
		upscale: answer,
		probe: async () => ({ ok: true, detail: 'in-house renderer answers' }),
		close: async () => {
			calls.push('close');
		}
	};
}

let client: SapphireClient | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
	await client?.destroy();
	await container.generator?.close();
	client = undefined;
	await cleanup?.();
	cleanup = undefined;
});

describe("a bot's own provider", () => {
	it('is passed as generation.provider and used for every job, held to the quotas, its images stored under its name', async () => {
		const temp = await makeTempDir();
		cleanup = temp.cleanup;
		const calls: string[] = [];
		client = await startWithoutGateway({
			storage: { storageRoot: `${temp.dir}/root`, cleanupIntervalMinutes: 0, maxUserDailyGens: 1 },
			generation: { provider: ownProvider(calls) }
		});
		expect(container.generator.describe()).toMatchObject({ provider: 'in-house', model: 'house-1', configured: true, preview: false });
		const result = await container.imageJobs.run({ kind: 'text-to-image', request: { prompt: 'a lighthouse' }, userId: USER_A });
		expect(result).toMatchObject({ ok: true, stored: { metadata: { provider: 'in-house', model: 'house-1' } } });
		expect(await container.imageJobs.run({ kind: 'text-to-image', request: { prompt: 'again' }, userId: USER_A })).toMatchObject({
			ok: false,
			reason: 'DAILY_LIMIT'
		});
		// What it says it cannot do is refused before any call.
		expect(await container.generator.upscaleImage({ image: Buffer.alloc(10) })).toMatchObject({ ok: false, reason: 'UNSUPPORTED' });
		expect(calls).toEqual(['textToImage a lighthouse']);
	});

	it('an object that is not a provider, or takes a built-in name, is refused naming the field', () => {
		expect(() => resolveGenerationOptions({ provider: { name: 'half', textToImage: () => undefined } as never })).toThrowError(
			/provider: expected one of stability, automatic1111, comfyui, openai, preview, or an object implementing ImageProvider/
		);
		expect(() => resolveGenerationOptions({ provider: { ...ownProvider([]), name: 'stability' } })).toThrowError(
			/provider: expected one of/
		);
	});
});
