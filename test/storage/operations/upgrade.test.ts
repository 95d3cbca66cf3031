import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { utcDay } from '../../../src/plugins/storage/clock.js';
import { SqliteConnection } from '../../../src/plugins/storage/ledger/sqlite/SqliteConnection.js';
import { SCHEMA_VERSION } from '../../../src/plugins/storage/ledger/sqlite/schema.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { writeV1Ledger } from '../../fixtures/ledgerV1.js';
import { makeTempDir, pngBytes, USER_A, USER_B } from '../../helpers/storageFixtures.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
	await close?.();
	close = undefined;
});

describe('a ledger written by the previous version', () => {
	it('is migrated once, keeping its images, counts and overrides (which move out of Keyv)', async () => {
		const temp = await makeTempDir();
		const root = join(temp.dir, 'root');
		const file = join(root, 'quota.sqlite');
		const now = Date.now();
		await mkdir(root, { recursive: true });
		await writeV1Ledger(file, {
			files: [{ userId: USER_A, imageId: '0000000000000001', bytes: 1000, createdAt: now - 120_000 }],
			daily: [{ userId: USER_A, day: utcDay(now), used: 2 }],
			overrides: [{ userId: USER_B, value: { dailyGens: 11, storageMb: 201 } }]
		});
		const manager = await StorageManager.open({ storageRoot: root, cleanupIntervalMinutes: 0, reconcileOnStart: false });
		close = async () => {
			await manager.close();
			await temp.cleanup();
		};
		const a = await manager.getQuotaStatus(USER_A);
		expect(a.daily.used).toBe(2);
		expect(a.user.usedBytes).toBe(1000);
		const b = await manager.getQuotaStatus(USER_B);
		expect({ daily: b.daily.limit, storageMb: b.user.limitMb, source: b.limits.source }).toEqual({
			daily: 11,
			storageMb: 201,
			source: 'override'
		});

		// The new insert trigger charges what the commit says.
		const held = await manager.reserve(USER_A);
		if (!held.ok) throw new Error(held.message);
		const saved = await manager.saveImage({ data: pngBytes(), userId: USER_A, reservation: held.reservation });
		expect(saved.ok).toBe(true);
		expect((await manager.getQuotaStatus(USER_A)).daily.used).toBe(3);

		const connection = await SqliteConnection.open(file, 5000);
		try {
			expect((await connection.all('PRAGMA user_version'))[0]?.user_version).toBe(SCHEMA_VERSION);
			expect(await connection.all("SELECT key FROM keyv WHERE key LIKE 'imagine:limits:%'")).toEqual([]);
		} finally {
			await connection.close();
		}
	});
});
