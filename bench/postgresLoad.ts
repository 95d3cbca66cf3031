import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { utcDay } from '../src/plugins/storage/clock.js';
import type { FileRow } from '../src/plugins/storage/ledger/QuotaLedger.js';
import { PostgresLedger } from '../src/plugins/storage/ledger/postgres/PostgresLedger.js';
import { UNLIMITED } from './suite.js';

/**
 * The two loads of the PostgreSQL suite, run the same way in the suite's process and in its worker processes: the
 * ledger's admission (reserve, then commit of the image row) and, as the baseline, rate-limiter-flexible's
 * RateLimiterPostgres consuming one point of one key. Both go through a node-postgres pool of the same size.
 */
export type PostgresLoad = 'ledger-admission' | 'limiter-consume';

export interface LoadResult {
	ops: number;
	seconds: number;
}

/** Connections per process, both sides: the ledger's default pool (QUOTA_LEDGER_POOL_SIZE). */
export const POOL_SIZE = 2;
/** Concurrent async loops per process. */
export const LOOPS = 16;
export const LIMITER_TABLE = 'bench_rlflx';

const USERS = Array.from({ length: 1000 }, (_, index) => `5300000000000${String(index).padStart(6, '0')}`);

/** Opens what `load` needs and returns one operation of it, and how to close. */
export async function openLoad(load: PostgresLoad, uri: string): Promise<{ op: () => Promise<void>; close: () => Promise<void> }> {
	if (load === 'limiter-consume') {
		const pool = new pg.Pool({ connectionString: uri, max: POOL_SIZE });
		const limiter = await new Promise<RateLimiterPostgres>((resolve, reject) => {
			const created: RateLimiterPostgres = new RateLimiterPostgres(
				{ storeClient: pool, tableName: LIMITER_TABLE, points: 1_000_000_000, duration: 3600, clearExpiredByTimeout: false },
				(error?: Error) => (error ? reject(error) : resolve(created))
			);
		});
		return {
			op: async () => {
				await limiter.consume('one-key', 1);
			},
			close: () => pool.end()
		};
	}
	const ledger = await PostgresLedger.open(pg, uri, { poolSize: POOL_SIZE, connectTimeoutMs: 10_000 });
	const owner = randomBytes(4).toString('hex');
	let sequence = 0;
	return {
		op: async () => {
			const now = Date.now();
			const index = sequence++;
			const userId = USERS[index % USERS.length] as string;
			const id = randomBytes(12).toString('hex');
			const day = utcDay(now);
			const reserved = await ledger.reserve(
				{
					id,
					userId,
					day,
					bytes: 2048,
					cost: 1,
					temp: false,
					now,
					expiresAt: now + 1_800_000,
					owner,
					job: false,
					guildId: null,
					credits: 0
				},
				UNLIMITED
			);
			if (!reserved.ok) throw new Error(`reserve denied: ${reserved.failed}`);
			const imageId = `${owner.slice(0, 4)}${index.toString(36).padStart(12, '0')}`;
			const file: FileRow = { imageId, userId, temp: false, ext: 'png', bytes: 1200, createdAt: now, name: imageId, metadata: '{}' };
			const committed = await ledger.commit(file, { reservationId: id, day, cost: 1, guildId: null, credits: 0 }, UNLIMITED);
			if (!committed.ok) throw new Error(`commit denied: ${committed.failed}`);
		},
		close: () => ledger.close()
	};
}

/** Runs `op` from LOOPS concurrent loops for `ms`, after `warmup` calls. */
export async function runLoad(op: () => Promise<void>, ms: number, warmup = 50): Promise<LoadResult> {
	for (let index = 0; index < warmup; index++) await op();
	let ops = 0;
	const start = performance.now();
	const deadline = start + ms;
	const loop = async () => {
		while (performance.now() < deadline) {
			await op();
			ops++;
		}
	};
	await Promise.all(Array.from({ length: LOOPS }, loop));
	return { ops, seconds: (performance.now() - start) / 1000 };
}
