import sharp from 'sharp';

/** Real image bytes for tests: a solid colour (compresses to almost nothing at any size). */
export interface TestImageOptions {
	/** Default a mid grey. */
	color?: { r: number; g: number; b: number };
	channels?: 3 | 4;
}

export async function pngImage(width: number, height: number, options: TestImageOptions = {}): Promise<Buffer> {
	return solid(width, height, options).png().toBuffer();
}

export async function jpegImage(width: number, height: number, options: TestImageOptions = {}): Promise<Buffer> {
	return solid(width, height, options).jpeg({ quality: 80 }).toBuffer();
}

/** A PNG whose pixels are random, so it does not compress: for tests that need big bodies. */
export async function noisePng(width: number, height: number): Promise<Buffer> {
	const pixels = Buffer.alloc(width * height * 3);
	for (let index = 0; index < pixels.length; index++) pixels[index] = Math.imul(index + 1, 2654435761) >>> 24;
	return sharp(pixels, { raw: { width, height, channels: 3 } })
		.png({ compressionLevel: 0 })
		.toBuffer();
}

/** Width and height as sharp reads them from the bytes. */
export async function imageSize(data: Uint8Array): Promise<{ width: number; height: number; format: string }> {
	const metadata = await sharp(data).metadata();
	return { width: metadata.width ?? 0, height: metadata.height ?? 0, format: metadata.format ?? '' };
}

function solid(width: number, height: number, options: TestImageOptions): sharp.Sharp {
	const color = options.color ?? { r: 128, g: 128, b: 128 };
	const channels = options.channels ?? 3;
	return sharp({ create: { width, height, channels, background: channels === 4 ? { ...color, alpha: 1 } : color } });
}
