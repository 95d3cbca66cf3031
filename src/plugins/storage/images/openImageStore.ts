import type { ResolvedStorageOptions } from '../options.js';
import type { ImageStore } from './ImageStore.js';
import { LocalImageStore } from './local/LocalImageStore.js';
import { S3ImageStore } from './s3/S3ImageStore.js';

/**
 * The image store the options select: an S3-compatible bucket for an `s3://` storageUri, else the local disk under
 * the storage root. Not yet prepared: `prepare()` creates what it needs and checks it can be used.
 */
export function openImageStore(options: Pick<ResolvedStorageOptions, 'storageRoot' | 'storageUri' | 's3'>): ImageStore {
	return options.storageUri ? new S3ImageStore(options.storageUri, options.s3) : new LocalImageStore(options.storageRoot);
}
