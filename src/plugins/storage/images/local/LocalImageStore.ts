import { randomBytes } from 'node:crypto';
import { link, lstat, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isSnowflake, IMAGE_EXTENSIONS, type ImageExtension } from '../../ids.js';
import { forEachLimited } from '../forEachLimited.js';
import type { ImageStore, ScanEntry, StagedImage } from '../ImageStore.js';
import {
	folderOf,
	IDENTITY_NAME,
	IDENTITY_SHAPE,
	IMAGE_FILE,
	imagePathOf,
	MAX_SIDECAR_BYTES,
	newStoreId,
	parseIdentity,
	parseSidecar,
	PARTIAL_FILE,
	serializeIdentity,
	SIDECAR_FILE,
	sidecarPathOf,
	TEMP_FOLDER,
	USERS_FOLDER,
	type ImageRef,
	type ParsedSidecar
} from '../records.js';
import { discard, publish, syncDirectory, writePartial, type PartialFile } from './atomicFile.js';
import { freeBytes } from './diskSpace.js';
import { PathEscapeError, StoragePaths } from './StoragePaths.js';

/** Space kept in reserve on the storage's disk, given up when it is full (see `releaseSpaceReserve`). */
const RESERVE_FILE = '.imagine-reserve';
const RESERVE_BYTES = 1024 * 1024;
/** The reserve is put back only when the disk has this much room besides. */
const RESTORE_RESERVE_ABOVE_BYTES = 2 * RESERVE_BYTES;

/** File system calls a scan keeps in flight in one folder. */
const SCAN_CONCURRENCY = 32;

/**
 * Images on the local disk, under the storage root (the embedded default). Writes are crash-safe: bytes go to
 * hidden partial files, are fsynced, and are renamed into place only after the ledger has recorded them
 * (sidecar first, then the image, then the folder is fsynced). Every folder is checked to be inside the root
 * after symlinks are followed; a file is read only when it is a regular file.
 */
export class LocalImageStore implements ImageStore {
	public readonly kind = 'local' as const;
	public readonly visibleBeforeCommit = false;
	public readonly root: string;
	readonly #paths: StoragePaths;
	#identity: Promise<string> | null = null;

	public constructor(root: string) {
		this.root = root;
		this.#paths = new StoragePaths(root);
	}

	public async prepare(): Promise<void> {
		await this.#paths.prepare([USERS_FOLDER, TEMP_FOLDER]);
		await this.restoreSpaceReserve();
	}

	/** Deletes the reserve file (1 MiB); true when there was one to give up. */
	public async releaseSpaceReserve(): Promise<boolean> {
		const path = join(this.root, RESERVE_FILE);
		if (!(await lstatIfPresent(path))) return false;
		await rm(path, { force: true });
		return true;
	}

	/** Creates the reserve file when it is missing and the disk has room to spare; never fails. */
	public async restoreSpaceReserve(): Promise<void> {
		const path = join(this.root, RESERVE_FILE);
		try {
			if (await lstatIfPresent(path)) return;
			const free = await freeBytes(this.root);
			if (free !== null && free < RESTORE_RESERVE_ABOVE_BYTES) return;
			// Real zeros, not a sparse file: the blocks must be allocated to be worth giving back.
			await writeFile(path, Buffer.alloc(RESERVE_BYTES), { flag: 'wx', flush: true });
		} catch {
			await rm(path, { force: true }).catch(() => undefined);
		}
	}

	public identity(): Promise<string> {
		return (this.#identity ??= this.#readOrCreateIdentity());
	}

	/** The identity if the store has one yet, without creating it (a health check changes nothing). */
	public existingIdentity(): Promise<string | null> {
		return readIdentity(join(this.root, IDENTITY_NAME));
	}

	public describe(): string {
		return this.root;
	}

	public identityHint(id: string): string {
		return `write ${JSON.stringify({ id })} to ${join(this.root, IDENTITY_NAME)}`;
	}

	public async stage(ref: ImageRef, data: Uint8Array, sidecar: string, writer: string): Promise<StagedImage> {
		const directory = this.#directory(ref);
		const written: PartialFile[] = [];
		try {
			await this.#paths.ensureInside(directory, true);
			written.push(await writePartial(this.#paths.resolve(sidecarPathOf(ref)), sidecar, writer));
			written.push(await writePartial(this.#paths.resolve(imagePathOf(ref)), data, writer));
		} catch (error) {
			await Promise.all(written.map((file) => discard(file).catch(() => undefined)));
			throw error;
		}
		return {
			publish: async () => {
				// Metadata first: once the image is visible, everything about it is.
				for (const file of written) await publish(file);
				await syncDirectory(directory);
			},
			discard: async () => {
				await Promise.all(written.map((file) => discard(file).catch(() => undefined)));
			}
		};
	}

	public async read(ref: ImageRef): Promise<Buffer | null> {
		const path = this.#paths.resolve(imagePathOf(ref));
		if (!(await this.#paths.isContainedRegularFile(path, this.#directory(ref)))) return null;
		try {
			return await readFile(path);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
			throw error;
		}
	}

	public exists(ref: ImageRef): Promise<boolean> {
		return this.#paths.isContainedRegularFile(this.#paths.resolve(imagePathOf(ref)), this.#directory(ref));
	}

	/** The image first, then its sidecar: a crash in between leaves a sidecar reconcile removes, never a resurrected image. */
	public async remove(ref: ImageRef): Promise<void> {
		await this.#paths.ensureInside(this.#directory(ref), false);
		await rm(this.#paths.resolve(imagePathOf(ref)), { force: true });
		await rm(this.#paths.resolve(sidecarPathOf(ref)), { force: true });
	}

	public location(ref: ImageRef): string {
		return this.#paths.resolve(imagePathOf(ref));
	}

	public async scan(onEntry: (entry: ScanEntry) => Promise<void>): Promise<void> {
		await this.#scanFolder(this.#paths.resolve(TEMP_FOLDER), null, onEntry);
		const usersDir = this.#paths.resolve(USERS_FOLDER);
		if (!(await this.#isInside(usersDir, onEntry))) return;
		for (const entry of await readdirIfPresent(usersDir)) {
			const path = join(usersDir, entry.name);
			if (entry.isDirectory() && isSnowflake(entry.name)) await this.#scanFolder(path, entry.name, onEntry);
			else await onEntry({ kind: 'ignored', location: path });
		}
	}

	public async close(): Promise<void> {
		// Nothing held open: every file is opened and closed per call.
	}

	#directory(ref: Pick<ImageRef, 'userId' | 'temp'>): string {
		return this.#paths.resolve(folderOf(ref.userId, ref.temp));
	}

	/** A storage folder that leads outside the root (a symlink) is reported and left alone, never followed. */
	async #isInside(directory: string, onEntry: (entry: ScanEntry) => Promise<void>): Promise<boolean> {
		try {
			await this.#paths.ensureInside(directory, false);
			return true;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
			if (!(error instanceof PathEscapeError)) throw error;
			await onEntry({ kind: 'ignored', location: directory });
			return false;
		}
	}

	/**
	 * One folder: images (with their sidecar's size), leftovers of interrupted writes, orphaned sidecars and
	 * anything else. A file deleted between the listing and its examination (a user's delete, a clean-up running
	 * beside the scan) is simply no longer there: it is skipped, never an error.
	 */
	async #scanFolder(directory: string, folderUserId: string | null, onEntry: (entry: ScanEntry) => Promise<void>): Promise<void> {
		if (!(await this.#isInside(directory, onEntry))) return;
		const entries = await readdirIfPresent(directory);
		const names = new Set(entries.map((entry) => entry.name));
		const temp = folderUserId === null;
		await forEachLimited(entries, SCAN_CONCURRENCY, async (entry) => {
			const path = join(directory, entry.name);
			const image = IMAGE_FILE.exec(entry.name);
			if (image && entry.isFile()) {
				const [, imageId, ext] = image as unknown as [string, string, ImageExtension];
				const sidecarPath = join(directory, `${imageId}.json`);
				const [stats, sidecarStats] = await Promise.all([lstatIfPresent(path), lstatIfPresent(sidecarPath)]);
				if (!stats?.isFile()) return;
				const hasSidecar = sidecarStats?.isFile() ?? false;
				await onEntry({
					kind: 'image',
					imageId,
					location: path,
					ext,
					temp,
					folderUserId,
					bytes: stats.size + (hasSidecar ? (sidecarStats?.size ?? 0) : 0),
					hasSidecar,
					modifiedAt: stats.mtimeMs,
					readSidecar: () => (hasSidecar ? readSidecarFile(sidecarPath) : Promise.resolve(null)),
					// Published only after its commit, so never an orphan: no writer is recorded.
					readWriter: () => Promise.resolve(null),
					remove: async () => {
						await removeFile(path);
						await removeFile(sidecarPath);
					}
				});
				return;
			}
			const sidecar = SIDECAR_FILE.exec(entry.name);
			if (sidecar && entry.isFile()) {
				const imageId = sidecar[1] as string;
				if (IMAGE_EXTENSIONS.some((ext) => names.has(`${imageId}.${ext}`))) return;
				const stats = await lstatIfPresent(path);
				if (stats)
					await onEntry({ kind: 'orphan-sidecar', imageId, writer: null, modifiedAt: stats.mtimeMs, remove: () => removeFile(path) });
				return;
			}
			const partial = PARTIAL_FILE.exec(entry.name);
			if (partial && entry.isFile()) {
				const stats = await lstatIfPresent(path);
				if (stats) {
					await onEntry({
						kind: 'partial',
						imageId: partial[1] as string,
						writer: partial[2] as string,
						modifiedAt: stats.mtimeMs,
						remove: () => removeFile(path)
					});
				}
				return;
			}
			await onEntry({ kind: 'ignored', location: path });
		});
	}

	/**
	 * The identity file is created whole or not at all: written under a temporary name, then hard-linked onto its
	 * name, which fails if another process created it first (then that one's identity is read).
	 */
	async #readOrCreateIdentity(): Promise<string> {
		const path = join(this.root, IDENTITY_NAME);
		const existing = await readIdentity(path);
		if (existing) return existing;
		const id = newStoreId();
		const temporary = join(dirname(path), `${IDENTITY_NAME}.${randomBytes(6).toString('hex')}`);
		await writeFile(temporary, serializeIdentity(id, new Date()), { flag: 'wx', flush: true });
		try {
			await link(temporary, path);
			return id;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
			const winner = await readIdentity(path);
			if (!winner) throw new Error(`${path} exists but holds no store id`, { cause: error });
			return winner;
		} finally {
			await rm(temporary, { force: true });
		}
	}
}

async function readIdentity(path: string): Promise<string | null> {
	let text: string;
	try {
		text = await readFile(path, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw error;
	}
	const marker = parseIdentity(text);
	if (marker) return marker.id;
	throw new Error(`${path} is damaged: it should hold ${IDENTITY_SHAPE}`);
}

/** A sidecar's fields; null when it is not there or too large to parse (its size still counts). */
async function readSidecarFile(path: string): Promise<ParsedSidecar | null> {
	const stats = await lstatIfPresent(path);
	if (!stats?.isFile()) return null;
	if (stats.size > MAX_SIDECAR_BYTES) return parseSidecar('', Date.now());
	try {
		return parseSidecar(await readFile(path, 'utf8'), Date.now());
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw error;
	}
}

async function lstatIfPresent(path: string) {
	try {
		return await lstat(path);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw error;
	}
}

async function readdirIfPresent(directory: string) {
	try {
		return await readdir(directory, { withFileTypes: true });
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
		throw error;
	}
}

async function removeFile(path: string): Promise<void> {
	await rm(path, { force: true });
}
