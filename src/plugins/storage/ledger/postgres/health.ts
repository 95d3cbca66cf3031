import type { ConnectionOptions } from 'node:tls';
import { loadPostgresDriver } from '../openLedger.js';
import { describePostgresUri } from './PostgresLedger.js';
import { POSTGRES_SCHEMA_VERSION, versionOf } from './schema.js';

/** What a look at a PostgreSQL ledger found, without changing it (no schema is created or migrated). */
export interface PostgresLedgerHealth {
	/** The server and database, for people (never the password). */
	location: string;
	/** Why the server could not be reached or read, if it could not; `driverMissing` when pg is not installed. */
	error?: string;
	errorCode?: string;
	driverMissing?: boolean;
	/** The schema version found (0: no schema yet, the storage creates it when it first opens). */
	schemaVersion: number;
	currentVersion: number;
	storeId: string | null;
	storedBytes: number | null;
}

/** Connects once, reads the schema version, the store it describes and the stored total. Never throws. */
export async function inspectPostgresLedger(
	uri: string,
	options: { connectTimeoutMs: number; tls?: ConnectionOptions | boolean }
): Promise<PostgresLedgerHealth> {
	const health: PostgresLedgerHealth = {
		location: describePostgresUri(uri),
		schemaVersion: 0,
		currentVersion: POSTGRES_SCHEMA_VERSION,
		storeId: null,
		storedBytes: null
	};
	let driver: Awaited<ReturnType<typeof loadPostgresDriver>>;
	try {
		driver = await loadPostgresDriver();
	} catch (error) {
		return { ...health, driverMissing: true, error: (error as Error).message };
	}
	const pool = new driver.Pool({
		connectionString: uri,
		max: 1,
		connectionTimeoutMillis: options.connectTimeoutMs,
		...(options.tls === undefined ? {} : { ssl: options.tls })
	});
	pool.on('error', () => undefined);
	try {
		const client = await pool.connect();
		try {
			health.schemaVersion = await versionOf(client, false);
			if (health.schemaVersion > 0) {
				const store = await client.query<{ value: string }>("SELECT value FROM imagine_meta WHERE key = 'store'");
				health.storeId = store.rows[0]?.value ?? null;
				const totals = await client.query<{ bytes: string }>("SELECT bytes FROM imagine_totals WHERE scope = 'global'");
				health.storedBytes = totals.rows[0] ? Number(totals.rows[0].bytes) : 0;
			}
		} finally {
			client.release();
		}
	} catch (error) {
		const code = (error as { code?: unknown }).code;
		return { ...health, error: (error as Error).message, ...(typeof code === 'string' ? { errorCode: code } : {}) };
	} finally {
		await pool.end().catch(() => undefined);
	}
	return health;
}
