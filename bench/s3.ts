import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { StorageManager } from '../src/plugins/storage/StorageManager.js';
import { S3TestServer } from '../test/helpers/s3Server.js';
import { fixed, makeTempDir, median, quantile, removeTempDir, times, type Suite } from './suite.js';

/*
 * The S3 suite: what a save costs on an S3-compatible store (s3rver on loopback, in its own process). A save with
 * its reservation (reserve -> upload sidecar and image -> commit in the SQLite ledger) of a 1.5 MB image, beside the
 * least any store must do for those bytes: one bare PutObject of the same bytes to the same server, with the same SDK,
 * in the same run. The two alternate, so a drift of the machine weighs on both alike.
 */

const IMAGE_BYTES = Math.round(1.5 * 1024 * 1024);
const WARMUP = 5;
const MEASURED = 40;
const USER = '123456789012345678';
const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

export const s3Suite: Suite = {
	name: 's3',
	description: 'save + commit of a 1.5 MB image to S3 (s3rver) vs a bare PutObject of the same bytes',
	async run(context) {
		const s3 = await S3TestServer.start();
		const dir = makeTempDir('s3');
		let manager: StorageManager | null = null;
		const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { ...s3.credentials } });
		try {
			const bucket = await s3.createBucket();
			manager = await StorageManager.open({
				storageRoot: join(dir, 'root'),
				cleanupIntervalMinutes: 0,
				maxUserDailyGens: 1_000_000,
				maxUserStorageMb: 1_000_000,
				maxGlobalStorageMb: 1_000_000,
				...s3.storageOptions(bucket)
			});
			const image = Buffer.alloc(IMAGE_BYTES, 0x2a);
			PNG_SIGNATURE.copy(image);
			const saves: number[] = [];
			const puts: number[] = [];
			context.log(`s3: ${WARMUP} + ${MEASURED} rounds of one save and one bare PutObject, ${IMAGE_BYTES} bytes each`);
			for (let round = 0; round < WARMUP + MEASURED; round++) {
				const saveStarted = performance.now();
				const held = await manager.reserve(USER, { estimatedBytes: IMAGE_BYTES });
				if (!held.ok) throw new Error(held.message);
				const saved = await manager.saveImage({ data: image, userId: USER, reservation: held.reservation, metadata: { prompt: 'bench' } });
				if (!saved.ok) throw new Error(saved.message);
				const saveMs = performance.now() - saveStarted;

				const putStarted = performance.now();
				await client.send(new PutObjectCommand({ Bucket: bucket, Key: `baseline/${round}.png`, Body: image, ContentType: 'image/png' }));
				const putMs = performance.now() - putStarted;
				if (round >= WARMUP) {
					saves.push(saveMs);
					puts.push(putMs);
				}
			}
			const ratio = median(saves) / median(puts);
			return {
				tables: [
					{
						title: 'S3 save (reserve + upload + commit) of a 1.5 MB image vs a bare PutObject, s3rver on loopback',
						columns: ['What', 'median ms', 'p90 ms', 'ratio to PutObject (medians)'],
						rows: [
							['save + commit (saveImage with its reservation)', fixed(median(saves), 1), fixed(quantile(saves, 0.9), 1), times(ratio)],
							['bare PutObject of the same bytes', fixed(median(puts), 1), fixed(quantile(puts, 0.9), 1), times(1)]
						],
						notes: [
							`${MEASURED} rounds after ${WARMUP} warm-up rounds, alternating.`,
							'A save uploads the sidecar and then the image (two PutObjects) and reserves and commits in the SQLite ledger.'
						]
					}
				],
				summary: { imageBytes: IMAGE_BYTES, rounds: MEASURED, saveMedianMs: median(saves), putMedianMs: median(puts), ratio }
			};
		} finally {
			await manager?.close();
			client.destroy();
			await s3.close();
			removeTempDir(dir);
		}
	}
};
