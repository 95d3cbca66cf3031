// Checks, before the tests, that the servers they need answer: CI must run the PostgreSQL ledger's tests, never skip
// them. Run after `npm ci` (it uses the pg driver from devDependencies). TEST_POSTGRES_URL points elsewhere.
/* global process, URL, console */
import pg from 'pg';

const url = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const where = new URL(url);
const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
client.on('error', () => undefined);
try {
	await client.connect();
	const { rows } = await client.query('SHOW server_version');
	console.log(`PostgreSQL ${rows[0].server_version} answers at ${where.host}, database ${where.pathname.slice(1)}.`);
} catch (error) {
	console.error(
		`No PostgreSQL server answers at ${where.host} (database ${where.pathname.slice(1)}): ${error.message}\n` +
			'The PostgreSQL ledger tests need one: start it (trust authentication, database `test`), or set TEST_POSTGRES_URL.'
	);
	process.exitCode = 1;
} finally {
	await client.end().catch(() => undefined);
}
