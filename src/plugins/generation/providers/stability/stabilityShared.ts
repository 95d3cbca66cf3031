import type { AspectRatio } from '../../requests.js';

/** v2beta's output for each aspect ratio (~1 MP; every side a multiple of 64, so v1 accepts them too). */
export const NOMINAL_SIZES: Record<AspectRatio, { width: number; height: number }> = {
	'21:9': { width: 1536, height: 640 },
	'16:9': { width: 1344, height: 768 },
	'3:2': { width: 1216, height: 832 },
	'5:4': { width: 1088, height: 896 },
	'1:1': { width: 1024, height: 1024 },
	'4:5': { width: 896, height: 1088 },
	'2:3': { width: 832, height: 1216 },
	'9:16': { width: 768, height: 1344 },
	'9:21': { width: 640, height: 1536 }
};

export function pngBlob(data: Buffer): Blob {
	return new Blob([data], { type: 'image/png' });
}

export function clamp(value: number, min: number, max: number): number {
	return Math.min(max, Math.max(min, value));
}

/** A width or height the caller gave that is no number of pixels: the message, or null when both are fine. */
export function badSides(width: number | undefined, height: number | undefined): string | null {
	for (const value of [width, height]) {
		if (value !== undefined && !(Number.isFinite(value) && value > 0)) return 'The width and height must be positive numbers of pixels.';
	}
	return null;
}
