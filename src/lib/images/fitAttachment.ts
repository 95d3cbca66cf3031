import sharp from 'sharp';
import { runImageWork } from '../../plugins/generation/imageWork.js';

const EXTENSIONS: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

export interface FittedImage {
	data: Buffer;
	/** File name to attach it under, e.g. `imagine-0mh7x1k2ab3cd4ef.webp`. */
	name: string;
	mimeType: string;
	/** Set when the original was too large to upload and what is sent is a smaller copy. */
	reencoded: { fromBytes: number; fromMime: string; toBytes: number; toMime: string; scaled: boolean; attempts: number } | null;
}

export interface FitOptions {
	/**
	 * Time allowed for the attempts (default 15 s): past it, the next attempt is the smallest one, which always
	 * ends the fit. Each attempt of a 16 MP image costs seconds on a small machine.
	 */
	budgetMs?: number;
}

type Attempt = { format: 'webp' | 'jpeg'; quality: number; scale: number };

/** Cheapest loss first: WebP at falling quality, then JPEG, then smaller pixels. */
const ATTEMPTS: readonly Attempt[] = [
	{ format: 'webp', quality: 90, scale: 1 },
	{ format: 'webp', quality: 80, scale: 1 },
	{ format: 'webp', quality: 65, scale: 1 },
	{ format: 'jpeg', quality: 85, scale: 1 },
	{ format: 'jpeg', quality: 70, scale: 1 },
	{ format: 'webp', quality: 75, scale: 0.75 },
	{ format: 'jpeg', quality: 70, scale: 0.75 },
	{ format: 'webp', quality: 70, scale: 0.5 },
	{ format: 'jpeg', quality: 65, scale: 0.5 },
	{ format: 'webp', quality: 60, scale: 0.35 },
	{ format: 'jpeg', quality: 60, scale: 0.25 },
	{ format: 'jpeg', quality: 50, scale: 0.125 }
];
const DEFAULT_BUDGET_MS = 15_000;
/** An encode's size scales with its pixels; aim a little under the limit so one jump is usually enough. */
const SIZE_MARGIN = 0.85;
/** Up to this far over the limit, a lower quality at the same size may still fit: try the next attempt in order. */
const QUALITY_REACH = 2;

/**
 * The image as it can be uploaded here: unchanged when it fits `limitBytes` (the interaction's attachment
 * limit), otherwise re-encoded (WebP, then JPEG, then fewer pixels) until it fits. The stored original is
 * never touched. Null when nothing fits (a limit of a few kilobytes) or the bytes are not an image.
 *
 * Bounded: an attempt far over the limit skips the attempts that cannot fit either (the size an encode gives
 * falls with its pixel count, so the scale needed is estimated from how far over it was), and past `budgetMs`
 * the smallest attempt comes next.
 */
export async function fitImageToLimit(
	data: Buffer,
	mimeType: string,
	baseName: string,
	limitBytes: number,
	options: FitOptions = {}
): Promise<FittedImage | null> {
	if (data.byteLength <= limitBytes) {
		return { data, name: `${baseName}.${EXTENSIONS[mimeType] ?? 'png'}`, mimeType, reencoded: null };
	}
	let width: number;
	try {
		width = (await sharp(data).metadata()).width ?? 0;
	} catch {
		return null;
	}
	const deadline = performance.now() + (options.budgetMs ?? DEFAULT_BUDGET_MS);
	let attempts = 0;
	for (let index = 0; index < ATTEMPTS.length;) {
		const attempt = ATTEMPTS[index] as Attempt;
		attempts++;
		// One attempt at a time through the image work queue, so a long fit never holds its place between attempts.
		const output = await runImageWork(() => {
			const pipeline = sharp(data, { animated: false }).rotate();
			if (attempt.scale < 1 && width > 0) pipeline.resize({ width: Math.max(16, Math.round(width * attempt.scale)) });
			return attempt.format === 'webp'
				? pipeline.webp({ quality: attempt.quality, effort: 4 }).toBuffer()
				: pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: attempt.quality, mozjpeg: true }).toBuffer();
		});
		if (output.byteLength <= limitBytes) {
			const toMime = attempt.format === 'webp' ? 'image/webp' : 'image/jpeg';
			return {
				data: output,
				name: `${baseName}.${EXTENSIONS[toMime]}`,
				mimeType: toMime,
				reencoded: {
					fromBytes: data.byteLength,
					fromMime: mimeType,
					toBytes: output.byteLength,
					toMime,
					scaled: attempt.scale < 1,
					attempts
				}
			};
		}
		index =
			performance.now() > deadline ? Math.max(index + 1, ATTEMPTS.length - 1) : nextAttempt(index, attempt, output.byteLength, limitBytes);
	}
	return null;
}

/**
 * The next attempt worth making after one that gave `gotBytes`: the following one, or, when that was far over the
 * limit, the first later attempt whose scale could bring it under (bytes fall about with the square of the scale).
 */
function nextAttempt(index: number, attempt: Attempt, gotBytes: number, limitBytes: number): number {
	if (gotBytes <= limitBytes * QUALITY_REACH) return index + 1;
	const neededScale = attempt.scale * Math.sqrt((limitBytes * SIZE_MARGIN) / gotBytes);
	for (let next = index + 1; next < ATTEMPTS.length; next++) {
		if ((ATTEMPTS[next] as Attempt).scale <= neededScale) return next;
	}
	return ATTEMPTS.length - 1 > index ? ATTEMPTS.length - 1 : ATTEMPTS.length;
}
