import sharp from 'sharp';
import type { DecodedImage } from './requests.js';

/** The formats providers return and users may upload. */
const MIME_BY_FORMAT: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif' };

export interface InputLimits {
	/** Bytes accepted before decoding. */
	maxBytes: number;
	/** Pixels accepted (width x height): a decompression bomb is refused before it is decoded. */
	maxPixels: number;
}

export type InputCheck = { ok: true; image: DecodedImage } | { ok: false; message: string };

/**
 * Checks an image a user sent: the size in bytes, then the header (format and pixel count, refused above
 * `maxPixels` before any decoding), then a full decode that fails on truncation. The result is a PNG
 * scaled to fit the provider's box, so what is sent is always something the provider accepts.
 */
export async function decodeInputImage(
	data: Uint8Array,
	limits: InputLimits,
	box: { minSide: number; maxSide: number; maxPixels: number }
): Promise<InputCheck> {
	if (data.byteLength === 0) return { ok: false, message: 'The attachment is empty.' };
	if (data.byteLength > limits.maxBytes) {
		return { ok: false, message: `The image is too large: ${mb(data.byteLength)} MB, at most ${mb(limits.maxBytes)} MB.` };
	}
	let metadata: sharp.Metadata;
	try {
		metadata = await sharp(data, { limitInputPixels: false }).metadata();
	} catch {
		return { ok: false, message: 'That file is not an image (PNG, JPEG, WebP or GIF).' };
	}
	if (!metadata.format || !(metadata.format in MIME_BY_FORMAT) || !metadata.width || !metadata.height) {
		return { ok: false, message: 'That file is not an image (PNG, JPEG, WebP or GIF).' };
	}
	if (metadata.width * metadata.height > limits.maxPixels) {
		const megapixels = Math.round((metadata.width * metadata.height) / 1e5) / 10;
		return { ok: false, message: `The image has too many pixels (${megapixels} MP, at most ${Math.floor(limits.maxPixels / 1e6)} MP).` };
	}
	const target = fitBox(metadata.width, metadata.height, box);
	try {
		const { data: png, info } = await sharp(data, { limitInputPixels: limits.maxPixels, failOn: 'truncated' })
			.rotate()
			.resize(target.width, target.height, { fit: 'fill' })
			.png()
			.toBuffer({ resolveWithObject: true });
		return { ok: true, image: { data: png, width: info.width, height: info.height } };
	} catch {
		return { ok: false, message: 'The image is damaged or cut off and cannot be read. Try another file.' };
	}
}

/** Scales (width, height) to fit inside the box, keeping the aspect ratio; up to minSide, down to maxSide and maxPixels. */
export function fitBox(width: number, height: number, box: { minSide: number; maxSide: number; maxPixels: number }) {
	let scale = 1;
	scale = Math.min(scale, box.maxSide / Math.max(width, height));
	scale = Math.min(scale, Math.sqrt(box.maxPixels / (width * height)));
	if (Math.min(width, height) * scale < box.minSide) scale = box.minSide / Math.min(width, height);
	return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export interface OutputImage {
	width: number;
	height: number;
	mimeType: string;
}

/** What a provider sent back, if it is a whole image; null for anything else (an error page, a truncated body). */
export async function inspectOutputImage(data: Buffer): Promise<OutputImage | null> {
	try {
		const metadata = await sharp(data, { limitInputPixels: 100_000_000 }).metadata();
		const mimeType = metadata.format ? MIME_BY_FORMAT[metadata.format] : undefined;
		if (!mimeType || !metadata.width || !metadata.height) return null;
		// The header can be intact while the pixels are cut off: decode to be sure.
		await sharp(data, { limitInputPixels: 100_000_000, failOn: 'truncated' }).toBuffer();
		return { width: metadata.width, height: metadata.height, mimeType };
	} catch {
		return null;
	}
}

/** Resizes an image to exactly width x height (used after an upscale that overshoots), keeping its format as PNG. */
export async function resizeImage(data: Buffer, width: number, height: number): Promise<Buffer> {
	return sharp(data, { limitInputPixels: 100_000_000 }).resize(width, height, { fit: 'fill' }).png().toBuffer();
}

function mb(bytes: number): string {
	return (Math.round((bytes / 1048576) * 10) / 10).toString();
}
