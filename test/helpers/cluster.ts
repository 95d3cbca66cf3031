import { join } from 'node:path';
import type { StorageOptions } from '../../src/plugins/storage/options.js';
import { createTestSchema } from './postgres.js';
import { S3TestServer } from './s3Server.js';
import { makeTempDir } from './storageFixtures.js';

/**
 * Several hosts, as the storage sees them: one PostgreSQL ledger (a schema of its own) and one bucket (on an S3 server
 * of its own) shared by all, and a local folder per host. Everything is removed by the cleanups registered.
 */
export interface Cluster {
	/** What every host shares: the ledger and the bucket (every host's options but its own root). */
	shared: StorageOptions;
	/** A host's own local folder. */
	rootOf(host: number): string;
	s3: S3TestServer;
	bucket: string;
}

export async function startCluster(onCleanup: (cleanup: () => Promise<void>) => void): Promise<Cluster> {
	const temp = await makeTempDir('imagine-hosts-');
	onCleanup(temp.cleanup);
	const schema = await createTestSchema();
	onCleanup(() => schema.drop());
	const s3 = await S3TestServer.start();
	onCleanup(() => s3.close());
	const bucket = await s3.createBucket();
	return {
		shared: { ledgerUri: schema.uri(), ...s3.storageOptions(bucket) },
		rootOf: (host) => join(temp.dir, `host-${host}`),
		s3,
		bucket
	};
}
