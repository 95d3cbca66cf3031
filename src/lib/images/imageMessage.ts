import { buildImageMessage, type ImageMessage, type ImageMessageInput } from '../responses/resultMessage.js';
import { fitImageToLimit } from './fitAttachment.js';

/**
 * A result message for an image: the image fitted to the interaction's upload limit (re-encoded when it is over),
 * then the message built around it. Shared by job results, buttons and `/images show`.
 */
export async function imageMessageFor(
	input: Omit<ImageMessageInput, 'fitted' | 'originalBytes'> & { data: Buffer }
): Promise<ImageMessage> {
	const { data, ...rest } = input;
	const fitted = await fitImageToLimit(data, input.details.mimeType, `imagine-${input.details.id ?? 'image'}`, input.attachmentLimit);
	return buildImageMessage({ ...rest, fitted, originalBytes: data.byteLength });
}
