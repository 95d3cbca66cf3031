import type { Attachment } from 'discord.js';
import { request, type Dispatcher } from 'undici';
import type { Failure, Outcome } from '../../plugins/shared/Failure.js';
import { readCapped } from '../../plugins/shared/readCapped.js';
import { formatBytes } from '../../plugins/storage/units.js';

/** What Discord says an upload is; the generator sniffs and decodes the bytes later anyway. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/webp', 'image/gif']);

export type AttachmentCheck = Outcome<object, 'INVALID_INPUT'>;
export type DownloadResult = Outcome<{ data: Buffer }, 'INVALID_INPUT' | 'UNAVAILABLE'>;

export interface InputLimits {
	maxBytes: number;
	maxPixels: number;
}

type DeclaredAttachment = Pick<Attachment, 'size' | 'contentType' | 'width' | 'height' | 'name'>;

/**
 * Checks what Discord declares about an attachment before a byte is downloaded: an obvious non-image
 * (a PDF, a video) or an upload over the size or pixel limit is refused at once.
 * `contentType` may be missing or wrong: a missing one passes, and the bytes are sniffed later.
 */
export function checkDeclaredImage(attachment: DeclaredAttachment, limits: InputLimits): AttachmentCheck {
	const type = attachment.contentType?.split(';')[0]?.trim().toLowerCase();
	if (type && !IMAGE_TYPES.has(type)) {
		return invalid(`That file is not an image this bot can use (it is ${type}). Attach a PNG, JPEG, WebP or GIF.`);
	}
	if (attachment.size > limits.maxBytes) {
		return invalid(`The image is too large: ${formatBytes(attachment.size)}, at most ${formatBytes(limits.maxBytes)}.`);
	}
	if (attachment.width && attachment.height && attachment.width * attachment.height > limits.maxPixels) {
		const megapixels = Math.round((attachment.width * attachment.height) / 1e5) / 10;
		return invalid(`The image has too many pixels (${megapixels} MP, at most ${Math.floor(limits.maxPixels / 1e6)} MP).`);
	}
	return { ok: true };
}

/**
 * Downloads the attachment the interaction carries, and only that: its `url` comes from Discord's
 * resolved interaction data, never from text a user typed (that would be server-side request forgery).
 * No redirects are followed; the size is capped (declared length and bytes actually read) and the
 * download times out.
 */
export async function downloadAttachment(
	attachment: Pick<Attachment, 'url'>,
	maxBytes: number,
	timeoutMs = 20_000
): Promise<DownloadResult> {
	let url: URL;
	try {
		url = new URL(attachment.url);
	} catch {
		return invalid('The attachment has no usable address. Upload it again.');
	}
	if (url.protocol !== 'https:' && url.protocol !== 'http:') return invalid('The attachment has no usable address. Upload it again.');
	const unreachable = (): DownloadResult => ({
		ok: false,
		reason: 'UNAVAILABLE',
		message: 'The attachment could not be downloaded from Discord. Nothing was charged; try again.'
	});
	const tooLarge = () => invalid(`The image is too large: at most ${formatBytes(maxBytes)}.`);

	try {
		const { statusCode, headers, body } = await request(url, {
			method: 'GET',
			headersTimeout: timeoutMs,
			bodyTimeout: timeoutMs,
			signal: AbortSignal.timeout(timeoutMs * 2)
		});
		if (statusCode !== 200) {
			discard(body);
			return unreachable();
		}
		const data = await readCapped(body, maxBytes, Number(headers['content-length']));
		return data === null ? tooLarge() : { ok: true, data };
	} catch {
		return unreachable();
	}
}

/** Drops a body not worth reading; the abort it causes is expected, not an error. */
function discard(body: Dispatcher.ResponseData['body']): void {
	body.on('error', () => undefined);
	body.destroy();
}

function invalid(message: string): Failure<'INVALID_INPUT'> {
	return { ok: false, reason: 'INVALID_INPUT', message };
}
