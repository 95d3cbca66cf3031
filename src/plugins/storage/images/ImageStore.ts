import type { ParsedSidecar, ImageRef } from './records.js';

/**
 * The image store port: where image bytes and their sidecars live (the local disk by default, an S3-compatible
 * bucket across hosts). The storage facade writes through it in three steps, the same for every store:
 *
 *   stage (bytes durable, not yet visible) -> commit in the ledger -> publish (visible)
 *
 * A store whose objects are visible as soon as they are written (object storage has no rename) says so with
 * `visibleBeforeCommit`: reconcile then treats an image the ledger does not know as a write that may never have
 * been committed (an orphan, removed after a grace period once its writer is gone) rather than as an image to add.
 *
 * Every method may throw when the store cannot be reached (a disk error, an object store that is down); the facade
 * turns that into an `IO` value.
 */
export interface ImageStore {
	/** Who reads this store: `local` or `s3`. */
	readonly kind: 'local' | 's3';
	/** True when a staged image can already be listed and read before it is published (object stores). */
	readonly visibleBeforeCommit: boolean;
	/** Creates what the store needs (folders, the identity marker). */
	prepare(): Promise<void>;
	/**
	 * This store's identity, recorded by the ledger on first use: a ledger refuses to describe a different store.
	 * Created with the store; stable across restarts.
	 */
	identity(): Promise<string>;
	/** What the store is, for people: a folder, or a bucket and prefix (never a credential). */
	describe(): string;
	/** How to restore a lost identity by hand, as an instruction (e.g. the file to write and its content). */
	identityHint(id: string): string;
	/**
	 * A store on a disk it shares with the ledger keeps a little space in reserve: on a full disk it gives it up so
	 * the ledger can still open and deletes and clean-up (which free space) can run. Object stores have no such
	 * disk and do not implement these.
	 */
	releaseSpaceReserve?(): Promise<boolean>;
	/** Puts the reserve back once there is room again. */
	restoreSpaceReserve?(): Promise<void>;
	/**
	 * Writes the sidecar, then the image, durably: under hidden names until published (local disk), or under their
	 * final names with `writer` recorded beside them (object stores, where an uncommitted write is an orphan-to-be).
	 */
	stage(ref: ImageRef, data: Uint8Array, sidecar: string, writer: string): Promise<StagedImage>;
	/** The image's bytes, or null when it is not there (removed, or not a regular file inside the store). */
	read(ref: ImageRef): Promise<Buffer | null>;
	exists(ref: ImageRef): Promise<boolean>;
	/** Removes the image, then its sidecar. A missing file is not an error; anything else throws. */
	remove(ref: ImageRef): Promise<void>;
	/** Where the image is, for people: a file path, or an `s3://bucket/key` address. */
	location(ref: ImageRef): string;
	/** Every entry of the store, one call per entry (called concurrently; entries may vanish meanwhile). */
	scan(onEntry: (entry: ScanEntry) => Promise<void>): Promise<void>;
	close(): Promise<void>;
}

/** A staged write: publish makes it visible; discard removes it (before publish). */
export interface StagedImage {
	publish(): Promise<void>;
	discard(): Promise<void>;
}

/** A whole stored image found by a scan. */
export interface ScannedImage {
	kind: 'image';
	imageId: string;
	/** Where it is, for reports. */
	location: string;
	ext: ImageRef['ext'];
	temp: boolean;
	/** The user whose folder it is in; null for temp images (their sidecar names the user). */
	folderUserId: string | null;
	/** The image's and its sidecar's bytes: what counts against the quotas. */
	bytes: number;
	/** Whether a sidecar is beside it. */
	hasSidecar: boolean;
	modifiedAt: number;
	/** The sidecar's fields; null when there is none or it cannot be read. */
	readSidecar(): Promise<ParsedSidecar | null>;
	/**
	 * The instance tag of the process that wrote it, read only when reconcile asks (an image the ledger does not
	 * know); null when the store records none (the local disk publishes only committed images) or it is gone.
	 */
	readWriter(): Promise<string | null>;
	/** Removes the image, then its sidecar (an orphan: its commit never happened). */
	remove(): Promise<void>;
}

/** Leftovers: a write in progress (or abandoned), or a sidecar whose image is not there. */
export interface ScannedLeftover {
	kind: 'partial' | 'orphan-sidecar';
	imageId: string;
	/** The writer tag of a partial write; null for an orphaned sidecar. */
	writer: string | null;
	modifiedAt: number;
	remove(): Promise<void>;
}

/** Something in the store that is neither (a symlink, a stray file, a folder that leads outside): reported, never followed or counted. */
export interface ScannedIgnored {
	kind: 'ignored';
	location: string;
}

export type ScanEntry = ScannedImage | ScannedLeftover | ScannedIgnored;
