import type { StoredImage } from '../../plugins/storage/index.js';

/** What a reply shows about an image, read defensively from the metadata stored beside it. */
export interface ImageDetails {
	/** The stored image's id; null when nothing was stored. */
	id: string | null;
	kind: 'text-to-image' | 'image-to-image' | 'upscale' | 'unknown';
	prompt: string | null;
	negativePrompt: string | null;
	style: string | null;
	seed: number | null;
	strength: number | null;
	provider: string | null;
	model: string | null;
	width: number | null;
	height: number | null;
	preview: boolean;
	sourceImageId: string | null;
	createdAt: Date | null;
	mimeType: string;
	bytes: number | null;
}

const KINDS = new Set(['text-to-image', 'image-to-image', 'upscale']);

function text(value: unknown): string | null {
	return typeof value === 'string' && value.length > 0 ? value : null;
}

function number(value: unknown): number | null {
	return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Details of a stored image (a fresh result, or one from the gallery). */
export function detailsOf(image: Pick<StoredImage, 'id' | 'metadata' | 'createdAt' | 'mimeType' | 'bytes'>): ImageDetails {
	const meta = image.metadata;
	const kind = typeof meta.kind === 'string' && KINDS.has(meta.kind) ? (meta.kind as ImageDetails['kind']) : 'unknown';
	return {
		id: image.id,
		kind,
		prompt: text(meta.prompt),
		negativePrompt: text(meta.negativePrompt),
		style: text(meta.style),
		seed: number(meta.seed),
		strength: number(meta.strength),
		provider: text(meta.provider),
		model: text(meta.model),
		width: number(meta.width),
		height: number(meta.height),
		preview: meta.preview === true,
		sourceImageId: text(meta.sourceImageId),
		createdAt: image.createdAt,
		mimeType: image.mimeType,
		bytes: image.bytes
	};
}

/** Details of a result that was not stored (a bot without the storage plugin): what the job asked and got. */
export function detailsOfGenerated(
	image: { mimeType: string; width: number; height: number; seed: number; provider: string; model: string; preview: boolean; data: Buffer },
	job: { kind: ImageDetails['kind']; request: object }
): ImageDetails {
	const request = job.request as { prompt?: string; negativePrompt?: string; stylePreset?: string; strength?: number };
	return {
		id: null,
		kind: job.kind,
		prompt: request.prompt ?? null,
		negativePrompt: request.negativePrompt ?? null,
		style: request.stylePreset ?? null,
		seed: image.seed,
		strength: request.strength ?? null,
		provider: image.provider,
		model: image.model,
		width: image.width,
		height: image.height,
		preview: image.preview,
		sourceImageId: null,
		createdAt: new Date(),
		mimeType: image.mimeType,
		bytes: image.data.byteLength
	};
}
