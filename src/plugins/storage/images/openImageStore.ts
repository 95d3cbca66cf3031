import type { ResolvedStorageOptions } from '../options.js';
import { StorageConfigError } from '../StorageConfigError.js';
import type { ImageStore } from './ImageStore.js';
import { LocalImageStore } from './local/LocalImageStore.js';
import type { S3ImageStore } from './s3/S3ImageStore.js';

/**
 * The image store the options select: an S3-compatible bucket for an `s3://` storageUri, else the local disk under
 * the storage root. Not yet prepared: `prepare()` creates what it needs and checks it can be used.
 */
export async function openImageStore(options: Pick<ResolvedStorageOptions, 'storageRoot' | 'storageUri' | 's3'>): Promise<ImageStore> {
	if (!options.storageUri) return new LocalImageStore(options.storageRoot);
	const { S3ImageStore } = await loadS3Store();
	return new S3ImageStore(options.storageUri, options.s3);
}

/** The AWS SDK's S3 client is needed only by bots that keep images in a bucket, so it is loaded only then. */
async function loadS3Store(): Promise<{ S3ImageStore: typeof S3ImageStore }> {
	try {
		return await import('./s3/S3ImageStore.js');
	} catch (error) {
		const { code, message } = error as { code?: unknown; message?: unknown };
		const missing = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(message).includes('@aws-sdk/client-s3');
		if (!missing) throw error;
		throw new StorageConfigError(
			"STORAGE_URI (storageUri) is an s3:// URI, but the AWS SDK's S3 client is not installed: add it to the bot (npm install @aws-sdk/client-s3).",
			{ cause: error }
		);
	}
}
