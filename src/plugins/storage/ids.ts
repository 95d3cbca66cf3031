import { randomBytes } from 'node:crypto';

/**
 * The shapes of the ids the storage plugin accepts, in one place. Nothing a user typed becomes a path or a key:
 * user ids must be snowflakes, image ids are generated here and checked against their exact shape, display names
 * match a strict pattern and are never used in a path or a key.
 */

/** Discord ids are snowflakes: 17 to 20 decimal digits. */
export const SNOWFLAKE_PATTERN = /^\d{17,20}$/;
/** 9 base-36 characters of milliseconds (sortable by creation time) + 7 random ones. */
export const IMAGE_ID_PATTERN = /^[0-9a-z]{16}$/;
/** Display names: ASCII letters, digits, space, dot, dash, underscore; no leading dot or space; no "..". */
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;

export const IMAGE_EXTENSIONS = ['png', 'jpg', 'webp', 'gif'] as const;
export type ImageExtension = (typeof IMAGE_EXTENSIONS)[number];

export function isSnowflake(value: unknown): value is string {
	return typeof value === 'string' && SNOWFLAKE_PATTERN.test(value);
}

export function isImageId(value: unknown): value is string {
	return typeof value === 'string' && IMAGE_ID_PATTERN.test(value);
}

export function isValidImageName(value: unknown): value is string {
	return typeof value === 'string' && IMAGE_NAME.test(value) && !value.includes('..');
}

export function isImageExtension(value: unknown): value is ImageExtension {
	return typeof value === 'string' && (IMAGE_EXTENSIONS as readonly string[]).includes(value);
}

/** A new image id; ids sort in creation order, so "newest first" is a string sort. */
export function newImageId(now: number): string {
	const time = Math.max(0, Math.floor(now)).toString(36).padStart(9, '0').slice(-9);
	const random = BigInt(`0x${randomBytes(6).toString('hex')}`)
		.toString(36)
		.padStart(7, '0')
		.slice(-7);
	return time + random;
}

/** Identifies the format from the first bytes; the extension is ours, never the caller's. */
export function sniffImageExtension(data: Uint8Array): ImageExtension | null {
	if (data.length >= 8 && data[0] === 0x89 && data[1] === 0x50 && data[2] === 0x4e && data[3] === 0x47) return 'png';
	if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpg';
	if (data.length >= 12 && ascii(data, 0, 4) === 'RIFF' && ascii(data, 8, 12) === 'WEBP') return 'webp';
	if (data.length >= 6 && (ascii(data, 0, 6) === 'GIF87a' || ascii(data, 0, 6) === 'GIF89a')) return 'gif';
	return null;
}

export function mimeTypeOf(extension: ImageExtension): string {
	return extension === 'jpg' ? 'image/jpeg' : `image/${extension}`;
}

function ascii(data: Uint8Array, start: number, end: number): string {
	return String.fromCharCode(...data.subarray(start, end));
}
