import { MAX_OUTPUT_PIXELS } from '../../imageData.js';
import { nearestAspectRatio, ratioOf, type AspectRatio, type Dimensions } from '../../requests.js';

/**
 * What each OpenAI image model accepts. `gpt-image-*` (gpt-image-1, -1-mini, -1.5...) always answers base64 and
 * refuses `response_format`; `dall-e-*` answers a short-lived URL unless asked for `b64_json`. Any other name is an
 * OpenAI-compatible server's model (LocalAI, a proxy): it gets the DALL-E style request (`response_format:
 * b64_json`, so no URL is ever fetched) and gpt-image's sizes, which such servers accept.
 */
export type ModelFamily = 'gpt-image' | 'dall-e-3' | 'dall-e-2' | 'compatible';

export interface ModelProfile {
	family: ModelFamily;
	/** Sizes the model makes; the asked size maps to the nearest in shape. */
	sizes: readonly { width: number; height: number }[];
	maxPromptLength: number;
	/** `/images/edits` with a prompt (dall-e-3 has no edits; dall-e-2's edits only fill transparent areas). */
	edits: boolean;
	/** Whether to send `response_format: "b64_json"`. */
	askBase64: boolean;
	/** The largest answer accepted: the model's largest size (a compatible server's own sizes: the plugin's cap). */
	maxOutputPixels: number;
}

const GPT_IMAGE_SIZES = [
	{ width: 1024, height: 1024 },
	{ width: 1536, height: 1024 },
	{ width: 1024, height: 1536 }
];

const PROFILES: Record<ModelFamily, Omit<ModelProfile, 'family'>> = {
	'gpt-image': { sizes: GPT_IMAGE_SIZES, maxPromptLength: 32_000, edits: true, askBase64: false, maxOutputPixels: 1536 * 1024 },
	'dall-e-3': {
		sizes: [
			{ width: 1024, height: 1024 },
			{ width: 1792, height: 1024 },
			{ width: 1024, height: 1792 }
		],
		maxPromptLength: 4000,
		edits: false,
		askBase64: true,
		maxOutputPixels: 1792 * 1024
	},
	'dall-e-2': {
		sizes: [
			{ width: 256, height: 256 },
			{ width: 512, height: 512 },
			{ width: 1024, height: 1024 }
		],
		maxPromptLength: 1000,
		edits: false,
		askBase64: true,
		maxOutputPixels: 1024 * 1024
	},
	compatible: { sizes: GPT_IMAGE_SIZES, maxPromptLength: 4000, edits: true, askBase64: true, maxOutputPixels: MAX_OUTPUT_PIXELS }
};

export function modelProfile(model: string): ModelProfile {
	const name = model.toLowerCase();
	const family: ModelFamily = name.startsWith('gpt-image')
		? 'gpt-image'
		: name.startsWith('dall-e-3')
			? 'dall-e-3'
			: name.startsWith('dall-e-2')
				? 'dall-e-2'
				: 'compatible';
	return { family, ...PROFILES[family] };
}

/**
 * The model's size nearest to what was asked: in shape (an aspect ratio, or width:height; square when nothing is
 * asked), and among sizes of that shape (only dall-e-2 has several squares) the smallest that is at least as
 * large as asked, else the largest (also when no size is asked).
 */
export function nearestModelSize(profile: ModelProfile, asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions {
	const w = asked.width ?? asked.height;
	const h = asked.height ?? asked.width;
	const target = asked.aspectRatio ? ratioOf(asked.aspectRatio) : w !== undefined && h !== undefined ? w / h : 1;
	const distance = (size: { width: number; height: number }) => Math.abs(Math.log(size.width / size.height) - Math.log(target));
	const best = Math.min(...profile.sizes.map(distance));
	const shaped = profile.sizes.filter((size) => distance(size) === best).sort((a, b) => a.width * a.height - b.width * b.height);
	const largest = shaped.at(-1) as { width: number; height: number };
	const side = Math.max(w ?? 0, h ?? 0);
	const chosen = side === 0 ? largest : (shaped.find((size) => Math.max(size.width, size.height) >= side) ?? largest);
	return { ...chosen, aspectRatio: nearestAspectRatio(chosen.width, chosen.height) };
}
