import { randomBytes } from 'node:crypto';
import { isImageExtension, isSnowflake, isValidImageName, type ImageExtension } from '../ids.js';

/**
 * The one owner of how a stored image is laid out, for every image store: the names of the image, of its
 * metadata file (the "sidecar") and of a write in progress, where they live relative to the store's root,
 * and what the sidecar holds. The local disk and an object store use the same relative layout:
 *
 *   images/users/<userId>/<imageId>.<ext>   a saved image
 *   images/users/<userId>/<imageId>.json    its sidecar
 *   temp/<imageId>.<ext> (+ .json)          a temp image (the sidecar names its user)
 *   .<name>.partial-<writer><random>        a write in progress (local disk only: object stores have no rename)
 */

/** Where one stored image is: enough to find its files or objects. */
export interface ImageRef {
	userId: string;
	imageId: string;
	temp: boolean;
	ext: ImageExtension;
}

/** `<imageId>.<ext>`: the only file names treated as images. */
export const IMAGE_FILE = /^([0-9a-z]{16})\.(png|jpg|webp|gif)$/;
/** `<imageId>.json`: the metadata written beside each image. */
export const SIDECAR_FILE = /^([0-9a-z]{16})\.json$/;
/** In-progress writes: hidden, so no listing ever shows them. Groups: image id, the writer (an instance tag). */
export const PARTIAL_FILE = /^\.([0-9a-z]{16})\.[a-z]+\.partial-([0-9a-f]{8})[0-9a-f]{12}$/;
/** A writer tag as it appears in partial names: 8 hex characters, unique per running process. */
export const WRITER_TAG = /^[0-9a-f]{8}$/;

export const USERS_FOLDER = 'images/users';
export const TEMP_FOLDER = 'temp';

export function imageFileName(imageId: string, ext: ImageExtension): string {
	return `${imageId}.${ext}`;
}

export function sidecarFileName(imageId: string): string {
	return `${imageId}.json`;
}

/** The hidden name a file is written under before it is renamed onto `finalName`. */
export function partialFileName(finalName: string, writer: string): string {
	if (!WRITER_TAG.test(writer)) throw new TypeError('a writer tag is 8 hexadecimal characters');
	return `.${finalName}.partial-${writer}${randomBytes(6).toString('hex')}`;
}

/** The folder of an image relative to the store's root (`images/users/<id>` or `temp`). Callers validated `userId`. */
export function folderOf(userId: string, temp: boolean): string {
	if (temp) return TEMP_FOLDER;
	if (!isSnowflake(userId)) throw new TypeError('a saved image needs a validated user id');
	return `${USERS_FOLDER}/${userId}`;
}

export function imagePathOf(ref: ImageRef): string {
	return `${folderOf(ref.userId, ref.temp)}/${imageFileName(ref.imageId, ref.ext)}`;
}

export function sidecarPathOf(ref: Pick<ImageRef, 'userId' | 'imageId' | 'temp'>): string {
	return `${folderOf(ref.userId, ref.temp)}/${sidecarFileName(ref.imageId)}`;
}

/** What was charged for an image when it was saved, so a lost ledger's daily counts can be rebuilt. */
export interface Charge {
	day: string;
	cost: number;
}

/** The sidecar: who the image belongs to and what it is, written beside it (and read back by reconcile). */
export interface Sidecar {
	id: string;
	userId: string;
	name: string;
	createdAt: number;
	temp: boolean;
	ext: ImageExtension;
	metadata: Record<string, unknown>;
	charge?: Charge;
}

export function serializeSidecar(sidecar: Sidecar): string {
	return `${JSON.stringify(sidecar)}\n`;
}

/** A sidecar's fields, each checked; a garbled one gives what can be trusted and no more. */
export interface ParsedSidecar {
	userId: string | null;
	name: string | null;
	createdAt: number | null;
	metadata: Record<string, unknown>;
	charge: Charge | null;
	ext: ImageExtension | null;
}

/** Sidecars larger than this are not parsed (they still count toward the quota by their size). */
export const MAX_SIDECAR_BYTES = 1024 * 1024;

export function parseSidecar(text: string, now: number): ParsedSidecar {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		value = null;
	}
	const fields = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
	const metadata = fields.metadata && typeof fields.metadata === 'object' && !Array.isArray(fields.metadata) ? fields.metadata : {};
	const charge = fields.charge as Partial<Charge> | undefined;
	return {
		userId: isSnowflake(fields.userId) ? fields.userId : null,
		name: isValidImageName(fields.name) ? fields.name : null,
		createdAt: plausibleTime(fields.createdAt, now),
		metadata: metadata as Record<string, unknown>,
		charge:
			charge && typeof charge.day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(charge.day) && isWholeCost(charge.cost)
				? { day: charge.day, cost: charge.cost }
				: null,
		ext: isImageExtension(fields.ext) ? fields.ext : null
	};
}

/** Metadata stored in the ledger as JSON text, read back into an object (anything else becomes `{}`). */
export function parseMetadataText(text: string | null): Record<string, unknown> {
	if (!text) return {};
	try {
		const value: unknown = JSON.parse(text);
		return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
	} catch {
		return {};
	}
}

function isWholeCost(value: unknown): value is number {
	return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 1000;
}

/** A time from a sidecar, if it is a real moment no later than a day from now. */
function plausibleTime(value: unknown, now: number): number | null {
	return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= now + 86_400_000 ? (value as number) : null;
}
