import { join } from 'node:path';
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { StorageManager } from '../src/plugins/storage/StorageManager.js';
import { createTestSchema, postgresUnavailable } from '../test/helpers/postgres.js';
import { raceWorkers, startReadyGoWorker } from '../test/helpers/readyGoWorker.js';
import { LOOPS, openLoad, POOL_SIZE, runLoad, type LoadResult, type PostgresLoad } from './postgresLoad.js';
import { fixed, integer, makeTempDir, median, percent, quantile, removeTempDir, type Suite, type Table } from './suite.js';

/*
 * The PostgreSQL suite, on the server the tests use (127.0.0.1:5432, or TEST_POSTGRES_URL), in a schema of its own:
 *
 * A. Admissions per second: the ledger's reserve + commit (each through the ledger's batches of schema 8: what arrives
 *    while the pool's connections are busy leaves together, one call and one transaction per batch), from 1 process
 *    and from 4 processes at once, beside rate-limiter-flexible's RateLimiterPostgres consuming one key (one upsert) in
 *    the same way, same pool size, same run. Target: >= 50 % of it.
 * B. Quota status latency through StorageManager.getQuotaStatus (one read of the usage), median and p99, each call
 *    followed by a bare `SELECT 1` on a pool of the same size, the floor of any read on this machine. Target: <= 1 ms
 *    on loopback.
 */

const LOAD_MS = 3000;
const PROCESS_COUNTS = [1, 4] as const;
const ADMISSION_TARGET = 0.5;
const STATUS_WARMUP = 1000;
const STATUS_CALLS = 10_000;
const STATUS_TARGET_MS = 1;
const USER = '123456789012345678';

const LABELS: Record<PostgresLoad, string> = {
	'ledger-admission': 'ledger admission: reserve + commit',
	'limiter-consume': 'RateLimiterPostgres consume (one key)'
};

export const postgresSuite: Suite = {
	name: 'postgres',
	description: 'PostgreSQL ledger: admissions/s vs RateLimiterPostgres (1 and 4 processes); quota status latency',
	async run(context) {
		if (postgresUnavailable) {
			context.log(`postgres: skipped, ${postgresUnavailable}`);
			return {
				tables: [{ title: 'PostgreSQL suite skipped', columns: ['Why'], rows: [[postgresUnavailable]] }],
				summary: { skipped: postgresUnavailable }
			};
		}
		const schema = await createTestSchema();
		const dir = makeTempDir('postgres');
		try {
			// The limiter's table is created once, here, so no worker measures a CREATE TABLE.
			await (await openLoad('limiter-consume', schema.uri())).close();

			const rows: { load: PostgresLoad; processes: number; opsPerSecond: number }[] = [];
			for (const processes of PROCESS_COUNTS) {
				// Alternating, baseline first, so a drift of the machine weighs on both.
				for (const load of ['limiter-consume', 'ledger-admission'] as const) {
					context.log(`postgres: ${LABELS[load]}, ${processes} process(es) x ${LOOPS} loops, ${LOAD_MS} ms`);
					const results = processes === 1 ? [await inProcess(load, schema.uri())] : await inWorkers(load, schema.uri(), processes);
					const opsPerSecond = results.reduce((sum, result) => sum + result.ops / result.seconds, 0);
					rows.push({ load, processes, opsPerSecond });
				}
			}
			const ratioAt = (processes: number) => {
				const of = (load: PostgresLoad) => rows.find((row) => row.load === load && row.processes === processes)?.opsPerSecond ?? 0;
				return of('ledger-admission') / of('limiter-consume');
			};
			const ratios = Object.fromEntries(PROCESS_COUNTS.map((processes) => [processes, ratioAt(processes)]));
			const admissionPass = PROCESS_COUNTS.every((processes) => ratioAt(processes) >= ADMISSION_TARGET);

			context.log(`postgres: quota status, ${STATUS_WARMUP} + ${STATUS_CALLS} calls`);
			// A second for A's worker processes and their server connections to finish closing, which B would measure too.
			await new Promise((resolve) => setTimeout(resolve, 1000));
			const { status, roundTrip } = await statusAndRoundTrips(schema.uri(), join(dir, 'root'));
			const statusPass = median(status) <= STATUS_TARGET_MS && quantile(status, 0.99) <= STATUS_TARGET_MS;

			const admissions: Table = {
				title: 'A. Admissions per second on PostgreSQL (loopback) vs RateLimiterPostgres consume, same server, same run',
				columns: ['What', 'processes', 'ops/s', 'vs RateLimiterPostgres', 'target'],
				rows: rows.map((row) => [
					LABELS[row.load],
					String(row.processes),
					integer(row.opsPerSecond),
					percent(
						row.opsPerSecond /
							(rows.find((other) => other.load === 'limiter-consume' && other.processes === row.processes)?.opsPerSecond ?? 1)
					),
					row.load === 'ledger-admission'
						? `>= ${percent(ADMISSION_TARGET)} ${ratioAt(row.processes) >= ADMISSION_TARGET ? 'PASS' : 'FAIL'}`
						: ''
				]),
				notes: [
					`${LOAD_MS} ms per row after 50 warm-up calls; ${LOOPS} concurrent async loops per process; a pool of ${POOL_SIZE} connections per process on both sides.`,
					'ledger admission: a reservation (imagine_reserve_many: the row, the counters it holds, every limit checked) then the',
					"image's commit (imagine_commit_many: the image row, the counters settled); admissions waiting for a connection leave",
					'together as one batch, one transaction.',
					'RateLimiterPostgres consume: one INSERT ... ON CONFLICT DO UPDATE ... RETURNING on one key.'
				]
			};
			const statusTable: Table = {
				title: 'B. Quota status (StorageManager.getQuotaStatus) on the PostgreSQL ledger, sequential calls',
				columns: ['What', 'calls', 'median ms', 'p99 ms', 'target'],
				rows: [
					[
						'getQuotaStatus',
						String(STATUS_CALLS),
						fixed(median(status), 3),
						fixed(quantile(status, 0.99), 3),
						`<= ${STATUS_TARGET_MS} ms ${statusPass ? 'PASS' : 'FAIL'}`
					],
					[
						'baseline: SELECT 1 on a pool of the same size',
						String(STATUS_CALLS),
						fixed(median(roundTrip), 3),
						fixed(quantile(roundTrip, 0.99), 3),
						''
					]
				],
				notes: [
					'The baseline is the floor any read of the server has on this machine: a round trip that reads nothing, measured',
					'between the status calls (one of each in turn), so both see the same moments of the machine.'
				]
			};
			return {
				tables: [admissions, statusTable],
				summary: {
					admissions: rows,
					admissionRatios: ratios,
					admissionTarget: { ratio: ADMISSION_TARGET, pass: admissionPass },
					status: { medianMs: median(status), p99Ms: quantile(status, 0.99), pass: statusPass },
					roundTrip: { medianMs: median(roundTrip), p99Ms: quantile(roundTrip, 0.99) }
				}
			};
		} finally {
			await schema.drop();
			removeTempDir(dir);
		}
	}
};

async function inProcess(load: PostgresLoad, uri: string): Promise<LoadResult> {
	const { op, close } = await openLoad(load, uri);
	try {
		return await runLoad(op, LOAD_MS);
	} finally {
		await close();
	}
}

async function inWorkers(load: PostgresLoad, uri: string, processes: number): Promise<LoadResult[]> {
	const deadline = Date.now() + LOAD_MS + 60_000;
	return raceWorkers(
		Array.from({ length: processes }, (_, index) =>
			startReadyGoWorker<LoadResult>('bench/postgresWorker.ts', { load, uri, ms: LOAD_MS }, { deadline, name: `${load} ${index}` })
		)
	);
}

/**
 * Quota status calls and, as their baseline, bare `SELECT 1` round trips on a pool of the ledger's size, one of each in
 * turn: both see the same moments of the machine (a pause of the host, another process waking), so their tails compare.
 */
async function statusAndRoundTrips(uri: string, storageRoot: string): Promise<{ status: number[]; roundTrip: number[] }> {
	const manager = await StorageManager.open({ storageRoot, ledgerUri: uri, cleanupIntervalMinutes: 0, reconcileOnStart: false });
	const pool = new pg.Pool({ connectionString: uri, max: POOL_SIZE });
	const timed = async (samples: number[], call: () => Promise<unknown>) => {
		const started = performance.now();
		await call();
		samples.push(performance.now() - started);
	};
	try {
		const warmup: number[] = [];
		for (let index = 0; index < STATUS_WARMUP; index++) {
			await timed(warmup, () => manager.getQuotaStatus(USER));
			await timed(warmup, () => pool.query('SELECT 1'));
		}
		const status: number[] = [];
		const roundTrip: number[] = [];
		for (let index = 0; index < STATUS_CALLS; index++) {
			await timed(status, () => manager.getQuotaStatus(USER));
			await timed(roundTrip, () => pool.query('SELECT 1'));
		}
		return { status, roundTrip };
	} finally {
		await manager.close();
		await pool.end();
	}
}
