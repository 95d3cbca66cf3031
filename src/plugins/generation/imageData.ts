import sharp from 'sharp';
import { imageHeaderOf, rememberHeader } from './imageHeader.js';
import { runImageWork } from './imageWork.js';
import type { DecodedImage } from './requests.js';
import { formatMb } from '../storage/units.js';

/** No provider returns more than a 4096 x 4096 upscale; anything larger is not read at all. */
export const MAX_OUTPUT_PIXELS = 16_777_216;

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
		return { ok: false, message: `The image is too large: ${formatMb(data.byteLength)} MB, at most ${formatMb(limits.maxBytes)} MB.` };
	}
	const header = await imageHeaderOf(data);
	if (!header || !(header.format in MIME_BY_FORMAT)) {
		return { ok: false, message: 'That file is not an image (PNG, JPEG, WebP or GIF).' };
	}
	if (header.width * header.height > limits.maxPixels) {
		const megapixels = Math.round((header.width * header.height) / 1e5) / 10;
		return { ok: false, message: `The image has too many pixels (${megapixels} MP, at most ${Math.floor(limits.maxPixels / 1e6)} MP).` };
	}
	// EXIF orientation swaps the sides of many phone photos: fit what will be seen, not what is stored.
	const target = fitBox(header.orientedWidth, header.orientedHeight, box);
	if (Math.max(target.width, target.height) > box.maxSide || target.width * target.height > box.maxPixels) {
		return { ok: false, message: `The image is too long and thin (at most ${Math.floor(box.maxSide / box.minSide)}:1).` };
	}
	try {
		const { data: png, info } = await runImageWork(() =>
			sharp(data, { limitInputPixels: limits.maxPixels, failOn: 'truncated' })
				.rotate()
				.resize(target.width, target.height, { fit: 'fill' })
				.png()
				.toBuffer({ resolveWithObject: true })
		);
		rememberHeader(png, { format: 'png', width: info.width, height: info.height, orientedWidth: info.width, orientedHeight: info.height });
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

/**
 * What a provider sent back, if it is a whole image; null for anything else (an error page, a body cut
 * short). The header is parsed and the format's end marker checked, without decoding the pixels: a
 * decode would hold several times the image in memory for every job in flight.
 */
export async function inspectOutputImage(data: Buffer, maxPixels = MAX_OUTPUT_PIXELS): Promise<OutputImage | null> {
	const header = await imageHeaderOf(data);
	const mimeType = header ? MIME_BY_FORMAT[header.format] : undefined;
	if (!header || !mimeType || !isComplete(data, header.format)) return null;
	if (header.width * header.height > maxPixels) return null;
	return { width: header.width, height: header.height, mimeType };
}

const PNG_END = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/** Whether the bytes run to the format's own end: PNG's IEND chunk, JPEG's EOI marker, WebP's RIFF length, GIF's trailer. */
function isComplete(data: Buffer, format: string): boolean {
	switch (format) {
		case 'png':
			return data.length >= 12 && data.subarray(data.length - 8).equals(PNG_END);
		case 'jpeg': {
			// Some encoders pad after EOI: look for it near the end.
			const tail = data.subarray(Math.max(0, data.length - 64));
			for (let index = tail.length - 2; index >= 0; index--) if (tail[index] === 0xff && tail[index + 1] === 0xd9) return true;
			return false;
		}
		case 'webp':
			return data.length >= 12 && data.readUInt32LE(4) + 8 <= data.length;
		case 'gif':
			return data[data.length - 1] === 0x3b;
		default:
			return false;
	}
}

/** Resizes an image to exactly width x height (used after an upscale that overshoots), keeping its format as PNG. */
export async function resizeImage(data: Buffer, width: number, height: number): Promise<Buffer> {
	return runImageWork(() => sharp(data, { limitInputPixels: MAX_OUTPUT_PIXELS }).resize(width, height, { fit: 'fill' }).png().toBuffer());
}
