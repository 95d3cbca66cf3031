import sharp from 'sharp';

/** What an image's header says, without its pixels decoded. */
export interface ImageHeader {
	/** sharp's name for the format: png, jpeg, webp, gif, ... */
	readonly format: string;
	readonly width: number;
	readonly height: number;
	/** The sides as the image is shown, after its EXIF orientation (a phone photo stored on its side). */
	readonly orientedWidth: number;
	readonly orientedHeight: number;
}

/**
 * Headers already read, by the buffer they were read from. One job's bytes pass several checks (a provider's own,
 * the generator's, a provider reading its input): each asks here, and the header is parsed once. Nothing in a job
 * changes a buffer's bytes once they are made; a changed image is always a new buffer.
 */
const headers = new WeakMap<Uint8Array, Promise<ImageHeader | null>>();

/**
 * The image's format and size, or null when the bytes are not an image sharp reads. Only the header is parsed, with
 * no pixel limit: the callers compare the pixel count with their own limits before anything is decoded.
 */
export function imageHeaderOf(data: Uint8Array): Promise<ImageHeader | null> {
	const known = headers.get(data);
	if (known) return known;
	const header = readHeader(data);
	headers.set(data, header);
	return header;
}

/** Records the header of an image this process has just encoded (its size is known), so no check parses it again. */
export function rememberHeader(data: Uint8Array, header: ImageHeader): void {
	headers.set(data, Promise.resolve(header));
}

async function readHeader(data: Uint8Array): Promise<ImageHeader | null> {
	try {
		const metadata = await sharp(data, { limitInputPixels: false }).metadata();
		if (!metadata.format || !metadata.width || !metadata.height) return null;
		const oriented = metadata.autoOrient ?? { width: metadata.width, height: metadata.height };
		return {
			format: metadata.format,
			width: metadata.width,
			height: metadata.height,
			orientedWidth: oriented.width,
			orientedHeight: oriented.height
		};
	} catch {
		return null;
	}
}
