import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { fitImageToLimit } from '../../../src/lib/images/fitAttachment.js';

/**
 * Re-encoding an image to Discord's upload limit is bounded: each encode of a large image costs seconds, so the fit
 * skips what cannot fit and stops trying the slow way once its time is spent.
 */
async function noisePng(width: number, height: number): Promise<Buffer> {
	// Random pixels: nothing an encoder can squeeze, the hardest case for a fit.
	const pixels = randomBytes(width * height * 3);
	return sharp(pixels, { raw: { width, height, channels: 3 } })
		.png({ compressionLevel: 1 })
		.toBuffer();
}

describe('fitting an image to the upload limit', () => {
	it('an image of noise far over the limit fits in a few encodes, not one per step', async () => {
		const image = await noisePng(2000, 2000);
		const limit = 256 * 1024;
		const fitted = await fitImageToLimit(image, 'image/png', 'imagine-test', limit);
		expect(fitted?.data.byteLength).toBeLessThanOrEqual(limit);
		expect(fitted?.reencoded).toMatchObject({ scaled: true });
		// Without the estimate, every quality at full size and every scale down to a quarter is tried first (11 encodes).
		expect(fitted?.reencoded?.attempts).toBeLessThanOrEqual(4);
	});

	it('an image a little over the limit loses quality before it loses pixels', async () => {
		const image = await noisePng(400, 400);
		const firstTry = await sharp(image).webp({ quality: 90, effort: 4 }).toBuffer();
		expect(firstTry.byteLength).toBeLessThan(image.byteLength);
		const fitted = await fitImageToLimit(image, 'image/png', 'imagine-test', Math.floor(firstTry.byteLength * 0.8));
		expect(fitted?.reencoded).toMatchObject({ scaled: false });
		expect((await sharp(fitted?.data).metadata()).width).toBe(400);
	});

	it('once the time allowed is spent, the smallest encode comes next and ends the fit', async () => {
		const image = await noisePng(1200, 1200);
		const fitted = await fitImageToLimit(image, 'image/png', 'imagine-test', 200 * 1024, { budgetMs: 0 });
		expect(fitted?.reencoded?.attempts).toBe(2);
		expect((await sharp(fitted?.data).metadata()).width).toBe(150);
	});

	it('an image that already fits is sent as it is', async () => {
		const image = await noisePng(64, 64);
		expect(await fitImageToLimit(image, 'image/png', 'imagine-test', image.byteLength)).toMatchObject({ data: image, reencoded: null });
	});
});
