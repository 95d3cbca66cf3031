import { afterEach } from 'vitest';
import { ImageGenerator } from '../../src/plugins/generation/ImageGenerator.js';
import { ImageJobs } from '../../src/plugins/generation/ImageJobs.js';
import type { StorageManager } from '../../src/plugins/storage/StorageManager.js';
import { FakeStabilityServer, STABILITY_TEST_KEY } from '../generation/fakes/stabilityServer.js';

const DAILY_COST = { textToImage: 1, imageToImage: 1, upscale: 1 };

/**
 * Jobs on the offline preview provider, for tests of the rules rather than of a provider. Call once at the top of a
 * test file: the generator is closed after each test.
 */
export function usePreviewJobs() {
	let generator: ImageGenerator | undefined;
	afterEach(async () => {
		await generator?.close();
		generator = undefined;
	});
	return {
		jobs(storage: () => StorageManager): ImageJobs {
			generator ??= ImageGenerator.create({ provider: 'preview' });
			return new ImageJobs(generator, storage, { jobTimeoutMs: 10_000, dailyCost: DAILY_COST });
		}
	};
}

/**
 * Jobs on a real (loopback) Stability API, so a test can see that a refused request never reached it (`fake.requests`).
 * Call once at the top of a test file: the fake and the generator are closed after each test.
 */
export function usePaidJobs() {
	let fake: FakeStabilityServer | undefined;
	let generator: ImageGenerator | undefined;
	afterEach(async () => {
		await generator?.close();
		await fake?.close();
		generator = fake = undefined;
	});
	return {
		get fake(): FakeStabilityServer | undefined {
			return fake;
		},
		async jobs(storage: () => StorageManager): Promise<ImageJobs> {
			fake = await FakeStabilityServer.start();
			generator = ImageGenerator.create({ provider: 'stability', stability: { apiKey: STABILITY_TEST_KEY, host: fake.url } });
			return new ImageJobs(generator, storage, { jobTimeoutMs: 5000, dailyCost: DAILY_COST });
		}
	};
}
