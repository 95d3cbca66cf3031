import {
	DeleteObjectCommand,
	GetObjectCommand,
	HeadBucketCommand,
	HeadObjectCommand,
	ListObjectsV2Command,
	PutObjectCommand,
	type S3Client
} from '@aws-sdk/client-s3';
import { mimeTypeOf } from '../../ids.js';
import { forEachLimited } from '../forEachLimited.js';
import type { ImageStore, ScanEntry, StagedImage } from '../ImageStore.js';
import {
	IDENTITY_NAME,
	imageFileName,
	imagePathOf,
	MAX_SIDECAR_BYTES,
	parseSidecar,
	sidecarFileName,
	sidecarPathOf,
	WRITER_TAG,
	type ImageRef,
	type ParsedSidecar
} from '../records.js';
import { ListingGroups, type ObjectGroup } from './ListingGroups.js';
import { ObjectTooLargeError, readBody } from './readBody.js';
import { createS3Client, type S3Settings } from './s3Client.js';
import { isNotFound, s3SetupError, type S3Context } from './s3Errors.js';
import { readOrCreateS3Identity } from './s3Identity.js';
import { formatS3Uri, parseS3Uri } from './s3Uri.js';

/** The user metadata (`x-amz-meta-imagine-writer`) naming the process that uploaded an object. */
const WRITER_METADATA = 'imagine-writer';
/**
 * The largest image read back: the biggest the generation plugin can make (a 16-megapixel upscale) even stored as
 * uncompressed RGBA. Anything larger under one of our keys was not written by this store.
 */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;
/** Requests a scan keeps in flight (sidecars and writers of the images reconcile asks about). */
const SCAN_CONCURRENCY = 16;

/**
 * Images in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Backblaze B2), every object under the URI's prefix
 * in the layout of records.ts. Object storage has no rename, but each PutObject is atomic (an object is whole or
 * absent): a save uploads the sidecar and then the image under their final keys, with the writer's instance tag as
 * metadata, before the ledger commits it. Until then the upload is an orphan-to-be that no user sees (listings come
 * from the ledger) and that reconcile removes if the commit never happens and its writer is gone.
 */
export class S3ImageStore implements ImageStore {
	public readonly kind = 's3' as const;
	public readonly visibleBeforeCommit = true;
	public readonly bucket: string;
	/** Without slashes at either end; '' for the whole bucket. */
	public readonly prefix: string;
	readonly #client: S3Client;
	readonly #context: S3Context;
	#identity: Promise<string> | null = null;

	public constructor(uri: string, settings: S3Settings) {
		const location = parseS3Uri(uri);
		if ('problem' in location) throw new TypeError(`storageUri: ${location.problem}`);
		this.bucket = location.bucket;
		this.prefix = location.prefix;
		this.#client = createS3Client(settings);
		this.#context = {
			uri: formatS3Uri(location),
			bucket: location.bucket,
			endpoint: settings.endpoint ?? null,
			region: settings.region,
			forcePathStyle: settings.forcePathStyle
		};
	}

	/** Checks the bucket can be reached with these credentials and creates the identity marker; a failure names the setting. */
	public async prepare(): Promise<void> {
		try {
			await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
			await this.identity();
		} catch (error) {
			throw s3SetupError(error, this.#context);
		}
	}

	public identity(): Promise<string> {
		const key = this.#key(IDENTITY_NAME);
		return (this.#identity ??= readOrCreateS3Identity({
			client: this.#client,
			bucket: this.bucket,
			key,
			address: this.#address(key)
		}).catch((error: unknown) => {
			this.#identity = null;
			throw error;
		}));
	}

	public describe(): string {
		return this.#context.endpoint ? `${this.#context.uri} at ${this.#context.endpoint}` : `${this.#context.uri} on AWS S3`;
	}

	public identityHint(id: string): string {
		return `upload ${JSON.stringify({ id })} as ${this.#address(this.#key(IDENTITY_NAME))}`;
	}

	public async stage(ref: ImageRef, data: Uint8Array, sidecar: string, writer: string): Promise<StagedImage> {
		if (!WRITER_TAG.test(writer)) throw new TypeError('a writer tag is 8 hexadecimal characters');
		const metadata = { [WRITER_METADATA]: writer };
		const sidecarKey = this.#key(sidecarPathOf(ref));
		await this.#put(sidecarKey, sidecar, 'application/json', metadata);
		try {
			await this.#put(this.#key(imagePathOf(ref)), data, mimeTypeOf(ref.ext), metadata);
		} catch (error) {
			await this.#delete(sidecarKey).catch(() => undefined);
			throw error;
		}
		return {
			// Already under its final key: visible to reconcile, but to no user until the ledger has committed it.
			publish: () => Promise.resolve(),
			discard: () => this.remove(ref)
		};
	}

	public async read(ref: ImageRef): Promise<Buffer | null> {
		try {
			const response = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(imagePathOf(ref)) }));
			return await readBody(response, MAX_IMAGE_BYTES);
		} catch (error) {
			if (isNotFound(error)) return null;
			throw error;
		}
	}

	public async exists(ref: ImageRef): Promise<boolean> {
		try {
			await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(imagePathOf(ref)) }));
			return true;
		} catch (error) {
			if (isNotFound(error)) return false;
			throw error;
		}
	}

	/** The image first, then its sidecar: a failure in between leaves a sidecar reconcile removes, never a resurrected image. */
	public async remove(ref: ImageRef): Promise<void> {
		await this.#delete(this.#key(imagePathOf(ref)));
		await this.#delete(this.#key(sidecarPathOf(ref)));
	}

	public location(ref: ImageRef): string {
		return this.#address(this.#key(imagePathOf(ref)));
	}

	/**
	 * Lists every object under the prefix (ListObjectsV2, page by page), sizes and ages from the listing alone. A
	 * sidecar is read only for an image the ledger does not know, and the writer's metadata only for an image that
	 * may be an orphan.
	 */
	public async scan(onEntry: (entry: ScanEntry) => Promise<void>): Promise<void> {
		const root = this.prefix ? `${this.prefix}/` : '';
		const groups = new ListingGroups();
		let token: string | undefined;
		do {
			const page = await this.#client.send(
				new ListObjectsV2Command({ Bucket: this.bucket, ...(root ? { Prefix: root } : {}), ...(token ? { ContinuationToken: token } : {}) })
			);
			const entries: ScanEntry[] = [];
			for (const object of page.Contents ?? []) {
				if (!object.Key?.startsWith(root)) continue;
				const relative = object.Key.slice(root.length);
				if (relative === IDENTITY_NAME) continue;
				const { completed, stray } = groups.add({
					relative,
					size: object.Size ?? 0,
					modifiedAt: object.LastModified?.getTime() ?? Date.now()
				});
				if (completed) entries.push(...this.#entriesOf(completed));
				if (stray) entries.push({ kind: 'ignored', location: this.#address(object.Key) });
			}
			await forEachLimited(entries, SCAN_CONCURRENCY, onEntry);
			token = page.IsTruncated ? page.NextContinuationToken : undefined;
		} while (token);
		const last = groups.finish();
		if (last) await forEachLimited(this.#entriesOf(last), SCAN_CONCURRENCY, onEntry);
	}

	public close(): Promise<void> {
		this.#client.destroy();
		return Promise.resolve();
	}

	#entriesOf(group: ObjectGroup): ScanEntry[] {
		const { imageId, folder, folderUserId, sidecar } = group;
		const sidecarKey = this.#key(`${folder}/${sidecarFileName(imageId)}`);
		if (group.images.length === 0) {
			const orphan = sidecar as NonNullable<typeof sidecar>;
			return [
				{
					kind: 'orphan-sidecar',
					imageId,
					writer: null,
					modifiedAt: orphan.modifiedAt,
					remove: () => this.#removeSidecarWithoutImage(folder, imageId, sidecarKey)
				}
			];
		}
		return group.images.map((image) => {
			const imageKey = this.#key(`${folder}/${imageFileName(imageId, image.ext)}`);
			return {
				kind: 'image' as const,
				imageId,
				location: this.#address(imageKey),
				ext: image.ext,
				temp: folderUserId === null,
				folderUserId,
				bytes: image.size + (sidecar?.size ?? 0),
				hasSidecar: sidecar !== null,
				modifiedAt: image.modifiedAt,
				readSidecar: () => (sidecar ? this.#readSidecar(sidecarKey) : Promise.resolve(null)),
				readWriter: () => this.#readWriter(imageKey),
				remove: async () => {
					await this.#delete(imageKey);
					await this.#delete(sidecarKey);
				}
			};
		});
	}

	/**
	 * A sidecar is removed as an orphan only after asking the server once more that no image is beside it: the
	 * listing's order is what paired them, and a server that listed out of order must not cost an image its metadata.
	 */
	async #removeSidecarWithoutImage(folder: string, imageId: string, sidecarKey: string): Promise<void> {
		const beside = await this.#client.send(
			new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.#key(`${folder}/${imageId}.`), MaxKeys: 10 })
		);
		if ((beside.Contents ?? []).some((object) => object.Key !== sidecarKey)) return;
		await this.#delete(sidecarKey);
	}

	async #readSidecar(key: string): Promise<ParsedSidecar | null> {
		try {
			const response = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
			return parseSidecar((await readBody(response, MAX_SIDECAR_BYTES)).toString('utf8'), Date.now());
		} catch (error) {
			if (isNotFound(error)) return null;
			// Too large to parse: its size still counts, its fields are not trusted (as on the local disk).
			if (error instanceof ObjectTooLargeError) return parseSidecar('', Date.now());
			throw error;
		}
	}

	async #readWriter(key: string): Promise<string | null> {
		try {
			const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
			const writer = head.Metadata?.[WRITER_METADATA];
			return writer !== undefined && WRITER_TAG.test(writer) ? writer : null;
		} catch (error) {
			if (isNotFound(error)) return null;
			throw error;
		}
	}

	async #put(key: string, body: Uint8Array | string, contentType: string, metadata: Record<string, string>): Promise<void> {
		await this.#client.send(
			new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, Metadata: metadata })
		);
	}

	/** Deleting a key that is not there succeeds (S3 answers 204 either way). */
	async #delete(key: string): Promise<void> {
		await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
	}

	/** `relative` comes from records.ts, built from validated ids only. */
	#key(relative: string): string {
		return this.prefix ? `${this.prefix}/${relative}` : relative;
	}

	#address(key: string): string {
		return `s3://${this.bucket}/${key}`;
	}
}
