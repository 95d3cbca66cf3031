import { PutObjectCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { StorageConfigError } from '../../../src/plugins/storage/StorageConfigError.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { killWorkers, raceWorkers, startReadyGoWorker } from '../../helpers/readyGoWorker.js';
import type { S3TestServer } from '../../helpers/s3Server.js';
import { describeBackends } from '../../helpers/storageBackends.js';
import { makeTempDir, pngBytes, USER_A } from '../../helpers/storageFixtures.js';

/**
 * A bucket's identity marker (`<prefix>/.imagine-store`): created once, the same id for every process however many
 * create it at once, and what lets a ledger refuse to describe another store.
 */

const WORKER = fileURLToPath(new URL('../../fixtures/identityWorker.ts', import.meta.url));
const PROCESSES = 4;

let s3: S3TestServer;
let cleanup: (() => Promise<void>) | undefined;

afterEach(async () => {
	killWorkers();
	await cleanup?.();
	cleanup = undefined;
});

async function tempDir(): Promise<string> {
	const temp = await makeTempDir();
	cleanup = temp.cleanup;
	return temp.dir;
}

describeBackends(['s3'], 'the identity marker', (backend) => {
	beforeAll(() => {
		s3 = backend.s3 as S3TestServer;
	});

	it('is created once in a new bucket, and kept across restarts', async () => {
		const dir = await tempDir();
		const bucket = await s3.createBucket({ identity: false });
		const options = { storageRoot: join(dir, 'root'), cleanupIntervalMinutes: 0, ...s3.storageOptions(bucket) };
		const first = await StorageManager.open(options);
		await first.close();
		const marker = (await s3.getObject(bucket, 'imagine/.imagine-store'))?.toString('utf8') ?? '';
		expect(JSON.parse(marker)).toEqual({ id: expect.stringMatching(/^[0-9a-f]{24}$/), createdAt: expect.any(String) });
		const second = await StorageManager.open(options);
		await second.close();
		expect((await s3.getObject(bucket, 'imagine/.imagine-store'))?.toString('utf8')).toBe(marker);
		expect(await s3.keys(bucket)).toEqual(['imagine/.imagine-store']);
	});

	it(`${PROCESSES} processes creating it at the same moment all end up with the same id`, { timeout: 60_000 }, async () => {
		const dir = await tempDir();
		const bucket = await s3.createBucket({ identity: false });
		const deadline = Date.now() + 45_000;
		const workers = Array.from({ length: PROCESSES }, (_, index) =>
			startReadyGoWorker<{ id: string }>(
				WORKER,
				{ storageRoot: join(dir, `host-${index}`), ...s3.storageOptions(bucket) },
				{
					deadline,
					name: `process ${index}`
				}
			)
		);
		const ids = (await raceWorkers(workers)).map((result) => result.id);
		const marker = JSON.parse((await s3.getObject(bucket, 'imagine/.imagine-store'))?.toString('utf8') ?? '{}') as { id?: string };
		expect(new Set(ids)).toEqual(new Set([marker.id]));
	});

	it('s3rver ignores If-None-Match on writes (which is why a creator reads the marker back after a pause)', async () => {
		const bucket = await s3.createBucket({ identity: false });
		await s3.putObject(bucket, 'probe', 'first');
		await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe', Body: 'second', IfNoneMatch: '*' }));
		expect((await s3.getObject(bucket, 'probe'))?.toString()).toBe('second');
	});

	it('a damaged marker stops the start with its address and what it should hold', async () => {
		const dir = await tempDir();
		const bucket = await s3.createBucket({ identity: false });
		await s3.putObject(bucket, 'imagine/.imagine-store', 'not json');
		const opening = StorageManager.open({ storageRoot: join(dir, 'root'), ...s3.storageOptions(bucket) });
		await expect(opening).rejects.toBeInstanceOf(StorageConfigError);
		await expect(opening).rejects.toThrowError(
			new RegExp(`s3://${bucket}/imagine/\\.imagine-store is damaged: it should hold \\{"id":"<24 hexadecimal characters>"\\}`)
		);
	});
});

describeBackends(['s3'], 'a ledger describes one store', (backend) => {
	beforeAll(() => {
		s3 = backend.s3 as S3TestServer;
	});

	it("refuses a second bucket pointed at the first one's ledger, saying how to restore a lost marker", async () => {
		const dir = await tempDir();
		const first = await s3.createBucket();
		const second = await s3.createBucket();
		const root = join(dir, 'root');
		const a = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, ...s3.storageOptions(first) });
		const saved = await a.saveImage({ data: pngBytes(), userId: USER_A });
		expect(saved.ok).toBe(true);
		await a.close();

		const refused = StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, ...s3.storageOptions(second) });
		await expect(refused).rejects.toBeInstanceOf(StorageConfigError);
		await expect(refused).rejects.toThrowError(
			new RegExp(
				`belongs to another storage .* this storage \\(s3://${second}/imagine at http://127\\.0\\.0\\.1:\\d+\\) .* upload \\{"id":"[0-9a-f]{24}"\\} as s3://${second}/imagine/\\.imagine-store`
			)
		);
		// The same bucket under another prefix is another store too.
		await expect(StorageManager.open({ storageRoot: root, ...s3.storageOptions(first, 'other') })).rejects.toBeInstanceOf(
			StorageConfigError
		);

		const again = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, ...s3.storageOptions(first) });
		const listed = await again.getUserImages(USER_A);
		expect(listed.ok && listed.images.map((image) => image.id)).toEqual([saved.ok && saved.image.id]);
		await again.close();
	});
});
