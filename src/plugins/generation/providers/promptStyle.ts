import type { StylePreset } from '../requests.js';

/**
 * What each Stability style preset means as words in a prompt, for the providers that have no presets of their
 * own (AUTOMATIC1111's `styles` are the owner's saved styles; ComfyUI and OpenAI have none).
 */
const STYLE_SUFFIX: Record<StylePreset, string> = {
	'3d-model': '3d model render',
	'analog-film': 'analog film photo',
	anime: 'anime style',
	cinematic: 'cinematic still',
	'comic-book': 'comic book style',
	'digital-art': 'digital art',
	enhance: 'highly detailed',
	'fantasy-art': 'fantasy art',
	isometric: 'isometric view',
	'line-art': 'line art',
	'low-poly': 'low poly',
	'modeling-compound': 'clay model',
	'neon-punk': 'neon punk style',
	origami: 'origami paper art',
	photographic: 'photograph',
	'pixel-art': 'pixel art',
	'tile-texture': 'seamless tileable texture'
};

/** The prompt with the style preset, if any, folded in as a suffix: `a cat` + anime -> `a cat, anime style`. */
export function promptWithStyle(prompt: string, style: StylePreset | undefined): string {
	return style ? `${prompt}, ${STYLE_SUFFIX[style]}` : prompt;
}
