import { randomBytes } from 'node:crypto';
import { isImageExtension, isImageId, isSnowflake, isValidImageName, type ImageExtension } from '../ids.js';

/**
 * The one owner of how a stored image is laid out, for every image store: the names of the image, of its
 * metadata file (the "sidecar") and of a write in progress, where they live relative to the store's root,
 * and what the sidecar holds. The local disk and an object store use the same relative layout:
 *
 *   images/users/<userId>/<imageId>.<ext>   a saved image
 *   images/users/<userId>/<imageId>.json    its sidecar
 *   temp/<imageId>.<ext> (+ .json)          a temp image (the sidecar names its user)
 *   .<name>.partial-<writer><random>        a write in progress (local disk only: object stores have no rename)
 *   .imagine-store                          the store's identity: {"id":"<24 hex>","createdAt":"<ISO time>"}
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

/** The store's identity marker, at the store's root (a file, or an object under the prefix). */
export const IDENTITY_NAME = '.imagine-store';

/**
 * Names are built from our own ids only; these checks stop a caller's mistake from ever becoming a path or a key
 * outside the layout, whatever the store.
 */
export function imageFileName(imageId: string, ext: ImageExtension): string {
	if (!isImageId(imageId) || !isImageExtension(ext)) throw new TypeError('an image file name needs a validated image id and extension');
	return `${imageId}.${ext}`;
}

export function sidecarFileName(imageId: string): string {
	if (!isImageId(imageId)) throw new TypeError('a sidecar name needs a validated image id');
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

/** A stored file recognised from its path relative to the store's root (forward slashes). */
export interface LaidOutFile {
	kind: 'image' | 'sidecar';
	imageId: string;
	/** The image's extension; null for a sidecar. */
	ext: ImageExtension | null;
	/** The user whose folder it is in; null in temp/. */
	folderUserId: string | null;
	/** `images/users/<userId>` or `temp`: the folder, as `folderOf` gives it. */
	folder: string;
}

/**
 * What a relative path is in the layout: an image or a sidecar in a user folder or temp/, or null for anything else
 * (the identity marker, a stray object, a folder that is not a user id). For stores that list paths rather than walk
 * folders.
 */
export function layoutOf(relative: string): LaidOutFile | null {
	const slash = relative.lastIndexOf('/');
	const folder = relative.slice(0, Math.max(slash, 0));
	const name = relative.slice(slash + 1);
	let folderUserId: string | null;
	if (folder === TEMP_FOLDER) folderUserId = null;
	else if (folder.startsWith(`${USERS_FOLDER}/`) && isSnowflake(folder.slice(USERS_FOLDER.length + 1))) {
		folderUserId = folder.slice(USERS_FOLDER.length + 1);
	} else return null;
	const image = IMAGE_FILE.exec(name);
	if (image) return { kind: 'image', imageId: image[1] as string, ext: image[2] as ImageExtension, folderUserId, folder };
	const sidecar = SIDECAR_FILE.exec(name);
	if (sidecar) return { kind: 'sidecar', imageId: sidecar[1] as string, ext: null, folderUserId, folder };
	return null;
}

/** A new store identity: 24 hexadecimal characters. */
export function newStoreId(): string {
	return randomBytes(12).toString('hex');
}

/** The identity marker's content. */
export function serializeIdentity(id: string, createdAt: Date): string {
	return `${JSON.stringify({ id, createdAt: createdAt.toISOString() })}\n`;
}

/** What an identity marker holds, or null when it is damaged (then the store says so: it cannot be guessed). */
export function parseIdentity(text: string): { id: string; createdAt: number | null } | null {
	try {
		const fields = JSON.parse(text) as { id?: unknown; createdAt?: unknown } | null;
		if (typeof fields?.id !== 'string' || !/^[0-9a-f]{24}$/.test(fields.id)) return null;
		const createdAt = typeof fields.createdAt === 'string' ? Date.parse(fields.createdAt) : Number.NaN;
		return { id: fields.id, createdAt: Number.isFinite(createdAt) ? createdAt : null };
	} catch {
		return null;
	}
}

/** What an identity marker must hold, for the message that names a damaged one. */
export const IDENTITY_SHAPE = '{"id":"<24 hexadecimal characters>"}';

/**
 * What was charged for an image when it was saved, so a lost ledger's daily counts can be rebuilt: the user's, the
 * server's it was asked from (when any), and the provider credits it spent (milli-credits, when any).
 */
export interface Charge {
	day: string;
	cost: number;
	guildId?: string;
	credits?: number;
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
				? {
						day: charge.day,
						cost: charge.cost,
						...(isSnowflake(charge.guildId) ? { guildId: charge.guildId } : {}),
						...(isMilliCredits(charge.credits) && charge.credits > 0 ? { credits: charge.credits } : {})
					}
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

/** Milli-credits of one job: a whole number, at most a million credits (no price table comes near). */
function isMilliCredits(value: unknown): value is number {
	return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 1e9;
}

function isWholeCost(value: unknown): value is number {
	return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 1000;
}

/** A time from a sidecar, if it is a real moment no later than a day from now. */
function plausibleTime(value: unknown, now: number): number | null {
	return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= now + 86_400_000 ? (value as number) : null;
}
