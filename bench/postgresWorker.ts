/**
 * One process of the PostgreSQL suite's multi-process rows (bench/postgres.ts):
 *
 *   node --import tsx bench/postgresWorker.ts '{"load":"ledger-admission","uri":"postgres://…","ms":3000}'
 *
 * Opens the load, prints `ready`, waits for `go` on stdin (so every process starts together), runs it and prints one
 * JSON line (a LoadResult).
 */
import { waitForGo } from '../test/fixtures/startSignal.js';
import { openLoad, runLoad, type PostgresLoad } from './postgresLoad.js';

const args = JSON.parse(process.argv[2] ?? '') as { load: PostgresLoad; uri: string; ms: number };
const { op, close } = await openLoad(args.load, args.uri);
try {
	process.stdout.write('ready\n');
	await waitForGo(60_000);
	process.stdout.write(`${JSON.stringify(await runLoad(op, args.ms))}\n`);
} finally {
	await close();
}
