import type { GenerationOptions } from './options.js';
import type { ImageGenerator } from './ImageGenerator.js';
import type { ImageJobs } from './ImageJobs.js';

export * from './GenerationResult.js';
export { failureOf, type Failure, type Outcome } from '../shared/Failure.js';
export * from './ImageGenerator.js';
export * from './ImageJobs.js';
export * from './options.js';
export {
	ASPECT_RATIOS,
	MAX_SEED,
	STYLE_PRESETS,
	isAspectRatio,
	isStylePreset,
	nearestAspectRatio,
	type AspectRatio,
	type ImageProvider,
	type ImageToImageRequest,
	type ProviderSupport,
	type ProviderProbe,
	type StylePreset,
	type TextToImageRequest,
	type UpscaleRequest
} from './requests.js';

declare module '@sapphire/pieces' {
	interface Container {
		/** Image generation through the configured provider, added by `sapphire-imagine/generation/register`. */
		generator: ImageGenerator;
		/** The guarded generation job (quota -> provider -> storage), added by `sapphire-imagine/generation/register`. */
		imageJobs: ImageJobs;
	}
}

declare module 'discord.js' {
	interface ClientOptions {
		/** Options of the generation plugin; every field has a default. */
		generation?: GenerationOptions;
	}
}
