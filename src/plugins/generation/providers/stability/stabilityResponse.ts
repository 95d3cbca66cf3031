import { generationFailure, generationMessages, type GenerationFailure } from '../../GenerationResult.js';
import { inspectOutputImage } from '../../imageData.js';

export type DecodedStabilityImage =
	{ ok: true; data: Buffer; width: number; height: number; mimeType: string; seed: number } | GenerationFailure;

/**
 * An answer of either API, as one image: bytes (with finish-reason and seed headers) or JSON (v2beta
 * `{ image, finish_reason, seed }`, v1 `{ artifacts: [...] }`). A filtered finish reason (header or JSON field,
 * whichever spelling the response carries) is CONTENT_FILTERED and never delivered; the bytes must be a whole image.
 */
export async function decodeStabilityResponse(
	body: Buffer,
	headers: Record<string, string | undefined>,
	requestedSeed: number
): Promise<DecodedStabilityImage> {
	let data: Buffer;
	/** SUCCESS | CONTENT_FILTERED | ERROR (v1), or absent. */
	let finish: string | undefined = headers['finish-reason'];
	let seed: unknown = headers['seed'];
	if ((headers['content-type'] ?? '').toLowerCase().includes('application/json')) {
		const artifact = jsonArtifact(body);
		if (!artifact) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		finish = artifact.finish ?? finish;
		seed = artifact.seed ?? seed;
		if (finish === 'CONTENT_FILTERED') return generationFailure('CONTENT_FILTERED', generationMessages.contentFiltered);
		if (!artifact.base64) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
		data = Buffer.from(artifact.base64, 'base64');
	} else {
		data = body;
	}
	if (finish === 'CONTENT_FILTERED') return generationFailure('CONTENT_FILTERED', generationMessages.contentFiltered);
	// ERROR, or a reason this code does not know: never deliver an image the provider did not call a success.
	if (finish !== undefined && finish !== 'SUCCESS') return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
	const output = await inspectOutputImage(data);
	if (!output) return generationFailure('PROVIDER_ERROR', generationMessages.providerError);
	const parsedSeed = Number(seed);
	return {
		ok: true,
		data,
		...output,
		seed: seed !== undefined && seed !== '' && Number.isSafeInteger(parsedSeed) && parsedSeed >= 0 ? parsedSeed : requestedSeed
	};
}

function jsonArtifact(body: Buffer): { base64?: string; finish?: string; seed?: unknown } | null {
	let parsed: unknown;
	try {
		parsed = JSON.parse(body.toString('utf8'));
	} catch {
		return null;
	}
	const envelope = parsed as { artifacts?: unknown } | null;
	// v1 wraps artifacts in an object (its yaml says a bare array: accept both); v2beta answers one object.
	const item: unknown = Array.isArray(envelope?.artifacts) ? envelope.artifacts[0] : Array.isArray(parsed) ? parsed[0] : parsed;
	if (!item || typeof item !== 'object') return null;
	const fields = item as Record<string, unknown>;
	const base64 = typeof fields.image === 'string' ? fields.image : typeof fields.base64 === 'string' ? fields.base64 : undefined;
	const finish = [fields.finish_reason, fields.finishReason].find((value): value is string => typeof value === 'string');
	return { base64, finish, seed: fields.seed };
}
