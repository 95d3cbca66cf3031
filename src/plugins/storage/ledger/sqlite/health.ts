import { existsSync } from 'node:fs';
import sqlite3 from 'sqlite3';
import { SCHEMA_TABLES, SCHEMA_VERSION, schemaVersion } from './schema.js';
import { SqliteConnection } from './SqliteConnection.js';

/** What a look at the ledger file found, without changing it (no schema is created, nothing is reconciled). */
export interface LedgerHealth {
	file: string;
	/** False: no ledger yet (the storage creates it when it first opens). */
	exists: boolean;
	/** Why the file could not be opened or read (not a database, locked past the busy time-out...), if it could not. */
	error?: string;
	/** SQLite's code for it: `SQLITE_CORRUPT` or `SQLITE_NOTADB` for a damaged file, `SQLITE_BUSY`, `SQLITE_CANTOPEN`... */
	errorCode?: string;
	/** `PRAGMA quick_check`: `['ok']` for a sound file, otherwise the first problems SQLite found. */
	integrity: string[];
	/** `PRAGMA journal_mode`: `wal` once the storage has opened the file. */
	journalMode: string;
	/** The schema version found (1 for a ledger from before versioning; 0 for an empty file). */
	schemaVersion: number;
	/** The version this code writes: an older ledger is migrated when the storage opens it, a newer one is refused. */
	currentVersion: number;
	/** The current schema's tables found in the file, and those that are not (yet) there. */
	tables: string[];
	missingTables: string[];
	/** The storage the ledger describes (its store id), once one has used it; null before. */
	storeId: string | null;
	/** Bytes the ledger counts as stored (everything, temp included), when its totals table is there. */
	storedBytes: number | null;
}

const MAX_INTEGRITY_LINES = 10;

/**
 * Opens the ledger behind a `sqlite://` URI (never creating it), checks its integrity and reports its schema.
 * Never throws: a file that cannot be read is a report with `error` set.
 */
export async function inspectLedger(uri: string, busyTimeoutMs: number): Promise<LedgerHealth> {
	const file = uri.startsWith('sqlite://') ? uri.slice('sqlite://'.length) : uri;
	const health: LedgerHealth = {
		file,
		exists: existsSync(file),
		integrity: [],
		journalMode: '',
		schemaVersion: 0,
		currentVersion: SCHEMA_VERSION,
		tables: [],
		missingTables: [...SCHEMA_TABLES],
		storeId: null,
		storedBytes: null
	};
	if (!health.exists) return health;
	let connection: SqliteConnection;
	try {
		connection = await SqliteConnection.open(file, busyTimeoutMs, sqlite3.OPEN_READWRITE);
	} catch (error) {
		return { ...health, ...failureOf(error) };
	}
	try {
		const integrity = await connection.all(`PRAGMA quick_check(${MAX_INTEGRITY_LINES})`);
		health.integrity = integrity.map((row) => String(Object.values(row)[0]));
		health.journalMode = String((await connection.all('PRAGMA journal_mode'))[0]?.journal_mode ?? '');
		health.schemaVersion = await schemaVersion(connection);
		const names = new Set((await connection.all("SELECT name FROM sqlite_master WHERE type = 'table'")).map((row) => String(row.name)));
		health.tables = SCHEMA_TABLES.filter((table) => names.has(table));
		health.missingTables = SCHEMA_TABLES.filter((table) => !names.has(table));
		if (names.has('imagine_meta')) {
			const [store] = await connection.all("SELECT value FROM imagine_meta WHERE key = 'store'");
			health.storeId = store ? String(store.value) : null;
		}
		if (names.has('imagine_totals')) {
			const [global] = await connection.all("SELECT bytes FROM imagine_totals WHERE scope = 'global'");
			health.storedBytes = global ? Number(global.bytes) : 0;
		}
		return health;
	} catch (error) {
		return { ...health, ...failureOf(error) };
	} finally {
		await connection.close().catch(() => undefined);
	}
}

function failureOf(error: unknown): { error: string; errorCode?: string } {
	const code = (error as { code?: unknown } | null)?.code;
	const message = error instanceof Error ? error.message : String(error);
	return typeof code === 'string' ? { error: message, errorCode: code } : { error: message };
}
