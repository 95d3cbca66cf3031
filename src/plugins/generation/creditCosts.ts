import { z } from 'zod';

/** The kinds of job a cost is given for (CREDIT_COSTS' inner keys). */
export const CREDIT_KINDS = ['text-to-image', 'image-to-image', 'upscale'] as const;
export type CreditKind = (typeof CREDIT_KINDS)[number];

/** `{ "<provider>": { "<kind>": credits } }`, merged over the defaults; decimals allowed (2.5). */
export const creditCostsSchema = z.record(
	z.string().min(1),
	z.partialRecord(z.enum(CREDIT_KINDS), z.number().min(0, 'expected 0 or more credits').max(10_000, 'expected 10000 credits or less'))
);
export type CreditCosts = z.output<typeof creditCostsSchema>;

/**
 * Stability AI's published prices, in credits per generation, by the model the provider reports: Stable Image Core
 * 3, Ultra 8, SD 3.5 Large 6.5, Large Turbo 4, Medium 3.5, Flash 2.5; the fast upscale 2. Other providers (AUTOMATIC1111,
 * ComfyUI, the offline preview) cost nothing by default; OpenAI bills money, not credits, so it is 0 unless set.
 */
const STABILITY_MODEL_CREDITS: Readonly<Record<string, number>> = {
	'stable-image-core': 3,
	'stable-image-ultra': 8,
	'sd3.5-large': 6.5,
	'sd3.5-large-turbo': 4,
	'sd3.5-medium': 3.5,
	'sd3.5-flash': 2.5
};
const STABILITY_UPSCALE_FAST_CREDITS = 2;

/**
 * What one job costs: the configured cost of the provider and kind, else the default. Stability's image-to-image is
 * priced like its text-to-image on the same model (the v1 engines API has no default: set CREDIT_COSTS for it).
 */
export function creditCostOf(costs: CreditCosts, provider: string, model: string, kind: CreditKind): number {
	const configured = costs[provider]?.[kind];
	if (configured !== undefined) return configured;
	if (provider !== 'stability') return 0;
	if (kind === 'upscale') return STABILITY_UPSCALE_FAST_CREDITS;
	return STABILITY_MODEL_CREDITS[model] ?? 0;
}
