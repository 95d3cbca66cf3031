import type { GenerationResult } from '../../GenerationResult.js';
import type {
	AspectRatio,
	Dimensions,
	ImageProvider,
	ProviderCall,
	ProviderImageToImage,
	ProviderLimits,
	ProviderProbe,
	ProviderSupport,
	ProviderTextToImage,
	ProviderUpscale
} from '../../requests.js';
import type { ProviderHttpSettings } from '../ProviderSettings.js';
import { StabilityClient } from './StabilityClient.js';
import { StabilityV1 } from './stabilityV1.js';
import { StabilityV2beta } from './stabilityV2beta.js';

export interface StabilityProviderOptions {
	apiKey: string;
	/** e.g. https://api.stability.ai; a path prefix (a proxy) is kept. */
	host: string;
	api: 'v2beta' | 'v1';
	/** v2beta text-to-image endpoint. */
	model: 'core' | 'ultra' | 'sd3';
	/** The `model` field of v2beta's sd3 endpoint (also used for image-to-image when `model` is core). */
	sd3Model: string;
	/** v1 engine id for text- and image-to-image. */
	engine: string;
	/** v1 engine id for upscales (esrgan-v1-x2plus). */
	upscaleEngine: string;
	/** Sent as stability-client-id. */
	clientId?: string;
	http: ProviderHttpSettings;
}

/**
 * Stability AI: v2beta stable-image (core, ultra, sd3, upscale/fast) by default, or the v1 engines API. Each API
 * lives in its own class (sizes, limits, request bodies); both send through one client that checks every answer
 * the same way (see StabilityClient and stabilityResponse).
 */
export class StabilityProvider implements ImageProvider {
	public readonly name = 'stability' as const;
	public readonly model: string;
	public readonly limits: ProviderLimits;
	public readonly supports: ProviderSupport = { imageToImage: true, upscale: true };
	readonly #client: StabilityClient;
	readonly #api: StabilityV1 | StabilityV2beta;

	public constructor(options: StabilityProviderOptions) {
		this.#client = new StabilityClient({
			apiKey: options.apiKey,
			host: options.host,
			// v1 answers image/png or JSON; v2beta picks the format from output_format.
			accept: options.api === 'v1' ? 'image/png' : 'image/*',
			clientId: options.clientId,
			http: options.http
		});
		this.#api = options.api === 'v1' ? new StabilityV1(options, this.#client) : new StabilityV2beta(options, this.#client);
		this.model = this.#api.model;
		this.limits = this.#api.limits;
	}

	public resolveSize(asked: { width?: number; height?: number; aspectRatio?: AspectRatio }): Dimensions | string {
		return this.#api.resolveSize(asked);
	}

	public textToImage(request: ProviderTextToImage, call: ProviderCall): Promise<GenerationResult> {
		return this.#api.textToImage(request, call);
	}

	public imageToImage(request: ProviderImageToImage, call: ProviderCall): Promise<GenerationResult> {
		return this.#api.imageToImage(request, call);
	}

	public upscale(request: ProviderUpscale, call: ProviderCall): Promise<GenerationResult> {
		return this.#api.upscale(request, call);
	}

	public probe(call: ProviderCall): Promise<ProviderProbe> {
		return this.#client.probe(call);
	}

	public async close(): Promise<void> {
		await this.#client.close();
	}
}
