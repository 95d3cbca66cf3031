import { randomBytes } from 'node:crypto';
import { createServer, Socket, type Server } from 'node:net';
import pg from 'pg';

/**
 * A real PostgreSQL server for the ledger's tests: this project's machines and CI run one on 127.0.0.1:5432
 * (trust authentication, database `test`); `TEST_POSTGRES_URL` points elsewhere. Every test gets a schema of its
 * own (dropped afterwards), selected with the standard `options=-c search_path=…` URI parameter, so tests never
 * see each other's tables. Where no server answers, `postgresUnavailable` says so and the tests that need one are
 * skipped with that reason (CI checks the server first and fails instead).
 */
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const postgresUnavailable: string | null = await (async () => {
	const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
	client.on('error', () => undefined);
	try {
		await client.connect();
		await client.query('SELECT 1');
		return null;
	} catch (error) {
		return `no PostgreSQL server answers at ${new URL(POSTGRES_URL).host} (${(error as Error).message})`;
	} finally {
		await client.end().catch(() => undefined);
	}
})();

/** The title suffix of a suite that needs the server: says plainly why it was skipped. */
export const postgresSkipNote = postgresUnavailable ? ` (skipped: ${postgresUnavailable})` : '';

export interface TestSchema {
	name: string;
	/** A ledger URI on this schema (optionally through another host:port, e.g. a proxy). */
	uri(hostPort?: string): string;
	/** Runs SQL in the schema, for checks a test makes behind the ledger's back. */
	query<T extends Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
	drop(): Promise<void>;
}

export async function createTestSchema(): Promise<TestSchema> {
	const name = `imagine_test_${randomBytes(6).toString('hex')}`;
	const admin = new pg.Client({ connectionString: POSTGRES_URL });
	await admin.connect();
	try {
		await admin.query(`CREATE SCHEMA ${name}`);
	} finally {
		await admin.end();
	}
	const uri = (hostPort?: string) => {
		const url = new URL(POSTGRES_URL);
		if (hostPort) url.host = hostPort;
		url.searchParams.set('options', `-c search_path=${name}`);
		return url.toString();
	};
	return {
		name,
		uri,
		query: async (sql, values = []) => {
			const client = new pg.Client({ connectionString: uri() });
			await client.connect();
			try {
				return (await client.query(sql, values)).rows;
			} finally {
				await client.end();
			}
		},
		drop: async () => {
			const client = new pg.Client({ connectionString: POSTGRES_URL });
			await client.connect();
			try {
				await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
			} finally {
				await client.end();
			}
		}
	};
}

/**
 * A TCP proxy on 127.0.0.1 in front of the server, to take the database away from a running ledger and give it
 * back: `cut()` drops every connection and refuses new ones (as a server that went down), `restore()` lets them in.
 */
export interface PostgresProxy {
	hostPort: string;
	cut(): void;
	restore(): void;
	close(): Promise<void>;
}

export async function startPostgresProxy(): Promise<PostgresProxy> {
	const target = new URL(POSTGRES_URL);
	const sockets = new Set<Socket>();
	let open = true;
	const server: Server = createServer((client) => {
		if (!open) {
			client.destroy();
			return;
		}
		const upstream = new Socket();
		upstream.connect(Number(target.port || 5432), target.hostname);
		for (const socket of [client, upstream]) {
			sockets.add(socket);
			socket.on('error', () => undefined);
			socket.on('close', () => sockets.delete(socket));
		}
		client.pipe(upstream).pipe(client);
		client.on('close', () => upstream.destroy());
		upstream.on('close', () => client.destroy());
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const address = server.address() as { port: number };
	return {
		hostPort: `127.0.0.1:${address.port}`,
		cut: () => {
			open = false;
			for (const socket of sockets) socket.destroy();
		},
		restore: () => {
			open = true;
		},
		close: async () => {
			for (const socket of sockets) socket.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		}
	};
}
