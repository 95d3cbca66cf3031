import type { GeneratedImage, UnusedInput } from '../../plugins/generation/index.js';
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
	/** Inputs the provider could not use (OpenAI: the seed, a negative prompt), so the reply can say so. */
	unusedInputs: UnusedInput[];
	sourceImageId: string | null;
	createdAt: Date | null;
	mimeType: string;
	bytes: number | null;
}

const KINDS = new Set(['text-to-image', 'image-to-image', 'upscale']);
const UNUSED_INPUTS = new Set<string>(['seed', 'negativePrompt', 'strength'] satisfies UnusedInput[]);

function text(value: unknown): string | null {
	return typeof value === 'string' && value.length > 0 ? value : null;
}

function number(value: unknown): number | null {
	return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function unusedInputs(value: unknown): UnusedInput[] {
	return Array.isArray(value) ? value.filter((item): item is UnusedInput => typeof item === 'string' && UNUSED_INPUTS.has(item)) : [];
}

/** Details of a stored image (a fresh result, or one from the gallery). */
export function detailsOf(image: Pick<StoredImage, 'id' | 'metadata' | 'createdAt' | 'mimeType' | 'bytes'>): ImageDetails {
	const meta = image.metadata;
	const kind = typeof meta.kind === 'string' && KINDS.has(meta.kind) ? (meta.kind as ImageDetails['kind']) : 'unknown';
	const unused = unusedInputs(meta.unusedInputs);
	return {
		id: image.id,
		kind,
		prompt: text(meta.prompt),
		negativePrompt: text(meta.negativePrompt),
		style: text(meta.style),
		// A provider without seeds stores 0: not a seed anyone could reuse.
		seed: unused.includes('seed') ? null : number(meta.seed),
		strength: number(meta.strength),
		provider: text(meta.provider),
		model: text(meta.model),
		width: number(meta.width),
		height: number(meta.height),
		preview: meta.preview === true,
		unusedInputs: unused,
		sourceImageId: text(meta.sourceImageId),
		createdAt: image.createdAt,
		mimeType: image.mimeType,
		bytes: image.bytes
	};
}

/** Details of a result that was not stored (a bot without the storage plugin): what the job asked and got. */
export function detailsOfGenerated(
	image: Pick<GeneratedImage, 'mimeType' | 'width' | 'height' | 'seed' | 'provider' | 'model' | 'preview' | 'data' | 'unusedInputs'>,
	job: { kind: ImageDetails['kind']; request: object }
): ImageDetails {
	const request = job.request as { prompt?: string; negativePrompt?: string; stylePreset?: string; strength?: number };
	return {
		id: null,
		kind: job.kind,
		prompt: request.prompt ?? null,
		negativePrompt: request.negativePrompt ?? null,
		style: request.stylePreset ?? null,
		seed: image.unusedInputs?.includes('seed') ? null : image.seed,
		strength: request.strength ?? null,
		provider: image.provider,
		model: image.model,
		width: image.width,
		height: image.height,
		preview: image.preview,
		unusedInputs: image.unusedInputs ?? [],
		sourceImageId: null,
		createdAt: new Date(),
		mimeType: image.mimeType,
		bytes: image.data.byteLength
	};
}
