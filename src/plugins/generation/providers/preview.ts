import { randomInt } from 'node:crypto';
import sharp from 'sharp';
import { generationFailure, generationMessages, type GenerationResult } from '../GenerationResult.js';
import { imageHeaderOf } from '../imageHeader.js';
import { runImageWork } from '../imageWork.js';
import { xmlText } from '../../shared/xmlText.js';
import {
	type ProviderProbe,
	ASPECT_RATIOS,
	MAX_SEED,
	nearestAspectRatio,
	ratioOf,
	type AspectRatio,
	type Dimensions,
	type ImageProvider,
	type ProviderCall,
	type ProviderImageToImage,
	type ProviderLimits,
	type ProviderSupport,
	type ProviderTextToImage,
	type ProviderUpscale
} from '../requests.js';

/**
 * The offline provider: no key, no network. It draws a placeholder PNG locally (a seeded gradient, the
 * prompt, the style and the seed, and a clear "not AI-generated" label) so a bot works end to end
 * before an image service is configured. The same request and seed always give the same bytes.
 */

const MIN_SIDE = 64;
const MAX_SIDE = 2048;
const DEFAULT_SIDE = 1024;
/** Pixels aimed at when only an aspect ratio is given (~1 MP, like Stability's ultra). */
const TARGET_PIXELS = 1_048_576;
/** An upscale's result: as large as Stability's fast upscale returns at most (16 MP, 8192 px a side). */
const MAX_UPSCALE_SIDE = 8192;
const MAX_UPSCALE_PIXELS = 16_777_216;
const MAX_INPUT_PIXELS = 4_194_304;
const LABEL = 'PREVIEW — not AI-generated';
const FONT = "'DejaVu Sans', 'Noto Sans', Arial, sans-serif";
/** Fast and still deterministic: zlib at a middling level, no adaptive filtering, no metadata. */
const PNG_OPTIONS: sharp.PngOptions = { compressionLevel: 4, adaptiveFiltering: false, palette: false };

export class PreviewProvider implements ImageProvider {
	public readonly name = 'preview' as const;
	public readonly model = 'preview';
	public readonly supports: ProviderSupport = { imageToImage: true, upscale: true };
	public readonly limits: ProviderLimits = {
		maxPromptLength: 10_000,
		input: { minSide: MIN_SIDE, maxSide: MAX_SIDE, maxPixels: MAX_INPUT_PIXELS },
		upscaleInput: { minSide: 32, maxSide: MAX_SIDE, maxPixels: MAX_INPUT_PIXELS },
		maxOutputPixels: MAX_UPSCALE_PIXELS
	};

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		const { width, height, aspectRatio } = asked;
		for (const side of [width, height]) {
			if (side !== undefined && (typeof side !== 'number' || !Number.isFinite(side))) return 'Width and height must be numbers of pixels.';
		}
		if (aspectRatio !== undefined && !(ASPECT_RATIOS as readonly string[]).includes(aspectRatio)) {
			return `Aspect ratio must be one of ${ASPECT_RATIOS.join(', ')}.`;
		}
		const ratio = aspectRatio ? ratioOf(aspectRatio) : 1;
		let w: number;
		let h: number;
		if (width !== undefined && height !== undefined) [w, h] = [width, height];
		else if (width !== undefined) [w, h] = [width, width / ratio];
		else if (height !== undefined) [w, h] = [height * ratio, height];
		else if (aspectRatio) [w, h] = [Math.sqrt(TARGET_PIXELS * ratio), Math.sqrt(TARGET_PIXELS / ratio)];
		else [w, h] = [DEFAULT_SIDE, DEFAULT_SIDE];
		return sizeOf(w, h);
	}

	public async textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		if (call.signal?.aborted) return cancelled();
		const seed = pickSeed(request.seed);
		if (seed === null) return generationFailure('INVALID_INPUT', `The seed must be a whole number from 0 to ${MAX_SEED}.`);
		const { width, height } = sizeOf(request.size.width, request.size.height);
		call.onStarted?.();
		let data: Buffer;
		try {
			const svg = sceneSvg({ width, height, seed, prompt: request.prompt, stylePreset: request.stylePreset, opacity: 1 });
			data = await runImageWork(() => sharp(Buffer.from(svg, 'utf8')).removeAlpha().png(PNG_OPTIONS).toBuffer());
		} catch {
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		}
		if (call.signal?.aborted) return cancelled();
		return done(data, width, height, seed);
	}

	public async imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		if (call.signal?.aborted) return cancelled();
		const seed = pickSeed(request.seed);
		if (seed === null) return generationFailure('INVALID_INPUT', `The seed must be a whole number from 0 to ${MAX_SEED}.`);
		const input = await readInput(request.image.data, MAX_INPUT_PIXELS);
		if (!input) return generationFailure('INVALID_INPUT', 'The input image cannot be read.');
		call.onStarted?.();
		const strength = Number.isFinite(request.strength) ? Math.min(1, Math.max(0, request.strength)) : 0.35;
		let data: Buffer;
		try {
			// The input shows through a seeded tint: the stronger the asked change, the stronger the tint.
			const overlay = sceneSvg({
				width: input.width,
				height: input.height,
				seed,
				prompt: request.prompt,
				stylePreset: request.stylePreset,
				opacity: 0.2 + 0.5 * strength,
				subtitle: 'image to image'
			});
			data = await runImageWork(() =>
				sharp(input.data)
					.flatten({ background: '#000000' })
					.composite([{ input: Buffer.from(overlay, 'utf8'), top: 0, left: 0 }])
					.removeAlpha()
					.png(PNG_OPTIONS)
					.toBuffer()
			);
		} catch {
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		}
		if (call.signal?.aborted) return cancelled();
		return done(data, input.width, input.height, seed);
	}

	public async upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		if (call.signal?.aborted) return cancelled();
		const { width, height } = request;
		if (
			!Number.isInteger(width) ||
			!Number.isInteger(height) ||
			width < 1 ||
			height < 1 ||
			width > MAX_UPSCALE_SIDE ||
			height > MAX_UPSCALE_SIDE ||
			width * height > MAX_UPSCALE_PIXELS
		) {
			return generationFailure(
				'INVALID_INPUT',
				`An upscale can be at most ${MAX_UPSCALE_SIDE} px a side and ${MAX_UPSCALE_PIXELS / 1_048_576} MP in all.`
			);
		}
		const input = await readInput(request.image.data, MAX_INPUT_PIXELS);
		if (!input) return generationFailure('INVALID_INPUT', 'The input image cannot be read.');
		call.onStarted?.();
		let data: Buffer;
		try {
			const label = upscaleLabelSvg(width, height);
			data = await runImageWork(() =>
				sharp(input.data)
					.resize(width, height, { fit: 'fill', kernel: sharp.kernel.lanczos3 })
					.composite([{ input: Buffer.from(label.svg, 'utf8'), top: 0, left: 0 }])
					.removeAlpha()
					.png(PNG_OPTIONS)
					.toBuffer()
			);
		} catch {
			return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		}
		if (call.signal?.aborted) return cancelled();
		return done(data, width, height, 0);
	}

	public async probe(): Promise<ProviderProbe> {
		return { ok: true, detail: 'draws placeholders on this machine, no network and no key needed' };
	}

	public async close(): Promise<void> {
		// Nothing to release: no connections, no timers.
	}
}

function cancelled(): GenerationResult {
	return generationFailure('TIMEOUT', generationMessages.cancelled);
}

function done(data: Buffer, width: number, height: number, seed: number): GenerationResult {
	return { ok: true, image: { data, mimeType: 'image/png', width, height, seed, provider: 'preview', model: 'preview', preview: true } };
}

/** 0 or absent: a random seed; otherwise the seed itself, or null if it is out of range. */
function pickSeed(seed: number | undefined): number | null {
	if (seed === undefined || seed === 0) return randomInt(1, MAX_SEED + 1);
	return Number.isInteger(seed) && seed >= 1 && seed <= MAX_SEED ? seed : null;
}

function side(value: number): number {
	return Math.min(MAX_SIDE, Math.max(MIN_SIDE, Math.round(value / 8) * 8));
}

function sizeOf(width: number, height: number): Dimensions {
	const w = side(Number.isFinite(width) ? width : DEFAULT_SIDE);
	const h = side(Number.isFinite(height) ? height : DEFAULT_SIDE);
	return { width: w, height: h, aspectRatio: nearestAspectRatio(w, h) };
}

/** The input image, decoded with its real size; null when it cannot be read or is too large. */
async function readInput(data: Uint8Array, maxPixels: number): Promise<{ data: Buffer; width: number; height: number } | null> {
	try {
		const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
		const header = await imageHeaderOf(buffer);
		if (!header || header.width * header.height > maxPixels) return null;
		return { data: buffer, width: header.width, height: header.height };
	} catch {
		return null;
	}
}

/** mulberry32: a tiny, fast, well-spread 32-bit PRNG; the same seed gives the same colours everywhere. */
export function mulberry32(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

function hslHex(hue: number, saturation: number, lightness: number): string {
	const s = saturation / 100;
	const l = lightness / 100;
	const a = s * Math.min(l, 1 - l);
	const channel = (n: number) => {
		const k = (n + hue / 30) % 12;
		const value = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
		return Math.round(value * 255)
			.toString(16)
			.padStart(2, '0');
	};
	return `#${channel(0)}${channel(8)}${channel(4)}`;
}

const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function graphemes(text: string): string[] {
	return Array.from(graphemeSegmenter.segment(text), (segment) => segment.segment);
}

/** Rough width in "average characters": wide scripts and emoji take about two. */
function graphemeWidth(grapheme: string): number {
	const code = grapheme.codePointAt(0) ?? 0;
	return code >= 0x1100 && (code <= 0x115f || (code >= 0x2e80 && code <= 0xa4cf) || (code >= 0xac00 && code <= 0xd7a3) || code >= 0xf900)
		? 2
		: 1;
}

/**
 * Wraps text into at most `maxLines` lines of about `perLine` average characters, breaking at spaces and
 * inside over-long words on grapheme boundaries (never inside an emoji or a surrogate pair); the last
 * line ends in "…" when text was left out. Only the start of a long prompt is looked at.
 */
export function wrapText(text: string, perLine: number, maxLines: number): string[] {
	const limit = Math.max(1, perLine);
	const room = limit * maxLines * 2 + 16;
	let truncated = text.length > room;
	let head = text;
	if (truncated) {
		// The cut may fall inside a word, an emoji sequence or a surrogate pair: drop the last grapheme so it does not show half.
		head = text.slice(0, room);
		const last = graphemes(head).pop() ?? '';
		head = head.slice(0, head.length - last.length);
	}
	const words = head.split(/\s+/).filter((word) => word.length > 0);
	const lines: string[] = [];
	let line: string[] = [];
	let lineWidth = 0;
	const push = () => {
		lines.push(line.join(''));
		line = [];
		lineWidth = 0;
	};
	outer: for (const word of words) {
		const parts = graphemes(word);
		const wordWidth = parts.reduce((sum, part) => sum + graphemeWidth(part), 0);
		if (lineWidth > 0 && lineWidth + 1 + wordWidth > limit) {
			push();
			if (lines.length >= maxLines) {
				truncated = true;
				break;
			}
		}
		if (lineWidth > 0) {
			line.push(' ');
			lineWidth++;
		}
		for (const part of parts) {
			const width = graphemeWidth(part);
			if (lineWidth > 0 && lineWidth + width > limit) {
				push();
				if (lines.length >= maxLines) {
					truncated = true;
					break outer;
				}
			}
			line.push(part);
			lineWidth += width;
		}
	}
	if (line.length > 0 && lines.length < maxLines) push();
	if (truncated && lines.length > 0) {
		const last = graphemes(lines[lines.length - 1] as string);
		while (last.length > 0 && last.reduce((sum, part) => sum + graphemeWidth(part), 0) + 1 > limit) last.pop();
		lines[lines.length - 1] = `${last.join('').trimEnd()}…`;
	}
	return lines;
}

interface Scene {
	width: number;
	height: number;
	seed: number;
	prompt: string;
	stylePreset?: string;
	/** 1 for a picture of its own; less for a tint over an input image. */
	opacity: number;
	subtitle?: string;
}

function sceneSvg(scene: Scene): string {
	const { width, height, seed } = scene;
	const random = mulberry32(seed);
	const hue = random() * 360;
	const from = hslHex(hue, 55 + random() * 25, 30 + random() * 20);
	const to = hslHex((hue + 60 + random() * 120) % 360, 55 + random() * 25, 45 + random() * 20);
	const angle = random() * Math.PI * 2;
	const x1 = (50 - Math.cos(angle) * 50).toFixed(1);
	const y1 = (50 - Math.sin(angle) * 50).toFixed(1);
	const x2 = (50 + Math.cos(angle) * 50).toFixed(1);
	const y2 = (50 + Math.sin(angle) * 50).toFixed(1);
	const unit = Math.min(width, height);
	const circles: string[] = [];
	for (let i = 0; i < 5; i++) {
		const cx = Math.round(random() * width);
		const cy = Math.round(random() * height);
		const r = Math.round(unit * (0.08 + random() * 0.25));
		const fill = hslHex((hue + random() * 360) % 360, 60, 60);
		circles.push(`<circle cx="${cx}" cy="${cy}" r="${r}" fill="${fill}" fill-opacity="${(0.12 + random() * 0.2).toFixed(2)}"/>`);
	}

	const margin = Math.max(4, Math.round(unit * 0.05));
	// The label always fits across the image, however narrow.
	const labelSize = Math.max(4, Math.min(Math.round(unit * 0.05), Math.floor((width * 0.92) / (LABEL.length * 0.64))));
	const bandHeight = Math.round(labelSize * 1.8);
	const promptSize = Math.max(6, Math.round(unit * 0.042));
	const lineHeight = Math.round(promptSize * 1.3);
	const infoSize = Math.max(5, Math.round(unit * 0.03));
	const infoTop = height - margin - infoSize * 2.6;
	const promptTop = bandHeight + margin + promptSize;
	const roomForLines = Math.floor((infoTop - promptTop) / lineHeight);
	const maxLines = Math.max(1, Math.min(8, roomForLines));
	const perLine = Math.max(4, Math.floor((width - 2 * margin) / (promptSize * 0.58)));
	const lines = wrapText(scene.prompt, perLine, maxLines);
	const promptText = lines
		.map((line, index) => `<tspan x="${margin}" y="${promptTop + index * lineHeight}">${xmlText(line)}</tspan>`)
		.join('');
	const info = [scene.subtitle, `style: ${scene.stylePreset ?? 'none'}`, `seed: ${seed}`, `${width}×${height}`].filter(
		(part): part is string => part !== undefined
	);

	return [
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
		`<defs><linearGradient id="bg" x1="${x1}%" y1="${y1}%" x2="${x2}%" y2="${y2}%">`,
		`<stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>`,
		`<g opacity="${scene.opacity.toFixed(3)}"><rect width="100%" height="100%" fill="url(#bg)"/>${circles.join('')}</g>`,
		`<rect width="100%" height="${bandHeight}" fill="#000000" fill-opacity="0.72"/>`,
		`<text x="${width / 2}" y="${Math.round(bandHeight * 0.68)}" font-family="${FONT}" font-size="${labelSize}" font-weight="bold" fill="#ffd400" text-anchor="middle">${xmlText(LABEL)}</text>`,
		`<text font-family="${FONT}" font-size="${promptSize}" fill="#ffffff" stroke="#000000" stroke-opacity="0.6" stroke-width="${Math.max(1, Math.round(promptSize / 10))}" paint-order="stroke">${promptText}</text>`,
		`<text x="${margin}" y="${Math.round(height - margin)}" font-family="${FONT}" font-size="${infoSize}" fill="#ffffff" fill-opacity="0.9">${xmlText(info.join('  ·  '))}</text>`,
		'</svg>'
	].join('');
}

function upscaleLabelSvg(width: number, height: number): { svg: string } {
	const size = Math.min(48, Math.max(10, Math.round(Math.min(width, height) * 0.03)));
	const text = 'PREVIEW upscale';
	const boxWidth = Math.min(width, Math.round(size * 0.7 * text.length + size));
	const boxHeight = Math.min(height, Math.round(size * 1.6));
	const svg = [
		`<svg xmlns="http://www.w3.org/2000/svg" width="${boxWidth}" height="${boxHeight}">`,
		`<rect width="100%" height="100%" fill="#000000" fill-opacity="0.65"/>`,
		`<text x="${Math.round(size / 2)}" y="${Math.round(boxHeight * 0.7)}" font-family="${FONT}" font-size="${size}" font-weight="bold" fill="#ffd400">${text}</text>`,
		'</svg>'
	].join('');
	return { svg };
}
