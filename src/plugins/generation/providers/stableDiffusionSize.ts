import { nearestAspectRatio, ratioOf, type AspectRatio, type Dimensions, type ProviderLimits } from '../requests.js';

/**
 * Sizes for the local Stable Diffusion servers (AUTOMATIC1111, ComfyUI). SD works in multiples of 8 (the latent
 * is 1/8 of the image). Sizes the user gives are rounded to the nearest multiple of 8; sizes we derive (from an
 * aspect ratio or the default) are multiples of 64 where that keeps the aspect ratio label, else of 8. 64..2048
 * px a side. With nothing asked the image is `defaultSide` square; an aspect ratio alone keeps about that area.
 * When both width and height are given they win over the aspect ratio.
 */
export const SD_MIN_SIDE = 64;
export const SD_MAX_SIDE = 2048;

/** What a local Stable Diffusion server takes: inputs resized into 64..2048 px a side and 4 MP. */
export const SD_SERVER_LIMITS: ProviderLimits = {
	// Neither server caps a prompt (long ones are split into 75-token chunks); 10,000 characters keeps requests and logs sane.
	maxPromptLength: 10_000,
	input: { minSide: SD_MIN_SIDE, maxSide: SD_MAX_SIDE, maxPixels: 4_194_304 },
	// Upscaled 2x: at most 4096 px a side and 16 MP out.
	upscaleInput: { minSide: SD_MIN_SIDE, maxSide: SD_MAX_SIDE, maxPixels: 4_194_304 },
	// A 2x upscale of a 2048 px side (an owner's ComfyUI upscale workflow must stay within it too).
	maxOutputPixels: (2 * SD_MAX_SIDE) ** 2
};

/** `defaultSide` rounded to a multiple of 64 within the bounds (512 suits SD 1.5 checkpoints, 1024 SDXL). */
export function sdDefaultSide(side: number | undefined): number {
	return Math.min(SD_MAX_SIDE, Math.max(SD_MIN_SIDE, Math.round((side ?? 512) / 64) * 64));
}

/** The size to make for what was asked, or `sizeMessage` when a side is out of bounds. */
export function stableDiffusionSize(
	asked: { width?: number; height?: number; aspectRatio?: AspectRatio },
	defaultSide: number,
	sizeMessage: string
): Dimensions | string {
	const { width, height, aspectRatio } = asked;
	for (const side of [width, height]) {
		if (side !== undefined && !(Number.isFinite(side) && side >= SD_MIN_SIDE && side <= SD_MAX_SIDE)) return sizeMessage;
	}
	if (width !== undefined && height !== undefined) return dimensions(snapSide(width, 8), snapSide(height, 8));
	const ratio = aspectRatio ? ratioOf(aspectRatio) : 1;
	let w: number;
	let h: number;
	if (width !== undefined) [w, h] = [width, width / ratio];
	else if (height !== undefined) [w, h] = [height * ratio, height];
	else [w, h] = [defaultSide * Math.sqrt(ratio), defaultSide / Math.sqrt(ratio)];
	// Keep the ratio inside the box (a 2048 px width at 9:21 would need a 4779 px height).
	const down = Math.min(1, SD_MAX_SIDE / Math.max(w, h));
	[w, h] = [w * down, h * down];
	const up = Math.max(1, SD_MIN_SIDE / Math.min(w, h));
	[w, h] = [w * up, h * up];
	const label = nearestAspectRatio(w, h);
	const given = down === 1 && up === 1 ? (width !== undefined ? 'width' : height !== undefined ? 'height' : null) : null;
	const coarse: [number, number] = [
		given === 'width' ? snapSide(w, 8) : snapSide(w, 64),
		given === 'height' ? snapSide(h, 8) : snapSide(h, 64)
	];
	if (nearestAspectRatio(...coarse) === label) return dimensions(...coarse);
	return dimensions(snapSide(w, 8), snapSide(h, 8));
}

/** The nearest multiple of `step`, within the bounds (both multiples of 64). */
export function snapSide(value: number, step: number): number {
	return Math.min(SD_MAX_SIDE, Math.max(SD_MIN_SIDE, Math.round(value / step) * step));
}

function dimensions(width: number, height: number): Dimensions {
	return { width, height, aspectRatio: nearestAspectRatio(width, height) };
}
