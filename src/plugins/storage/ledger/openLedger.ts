import { dirname } from 'node:path';
import type pg from 'pg';
import type { ImageStore } from '../images/ImageStore.js';
import { freeBytes, isDiskFull } from '../images/local/diskSpace.js';
import type { ResolvedStorageOptions } from '../options.js';
import { StorageConfigError } from '../StorageConfigError.js';
import { PostgresLedger } from './postgres/PostgresLedger.js';
import type { QuotaLedger } from './QuotaLedger.js';
import { SqliteLedger } from './sqlite/SqliteLedger.js';

export interface LedgerLogger {
	warn(message: string): void;
}

/** Opens the ledger the URI names: `sqlite://<file>` (embedded, one host) or `postgres://…` (a server, any number of hosts). */
export async function openLedger(options: ResolvedStorageOptions, store: ImageStore, logger: LedgerLogger): Promise<QuotaLedger> {
	const uri = options.ledgerUri;
	if (isPostgresUri(uri)) {
		return PostgresLedger.open(await loadPostgresDriver(), uri, {
			poolSize: options.ledgerPoolSize,
			connectTimeoutMs: options.busyTimeoutMs,
			...(options.ledgerTls === undefined ? {} : { tls: options.ledgerTls })
		});
	}
	return openSqliteLedger(options, store, logger);
}

/** A `postgres://` or `postgresql://` ledger URI. */
export function isPostgresUri(uri: string): boolean {
	return /^postgres(?:ql)?:\/\//i.test(uri);
}

/** node-postgres is needed only by bots that use a PostgreSQL ledger, so it is loaded only then. */
export async function loadPostgresDriver(): Promise<typeof pg> {
	try {
		const module = await import('pg');
		return module.default;
	} catch (error) {
		throw new StorageConfigError(
			'The quota ledger is a PostgreSQL URI, but the PostgreSQL driver is not installed: add it to the bot (npm install pg).',
			{ cause: error }
		);
	}
}

/**
 * On a full disk (SQLite cannot even create its shared-memory file) the store's space reserve is given up and the
 * ledger opened again, so deletes and clean-up, which free space, can still run.
 */
async function openSqliteLedger(options: ResolvedStorageOptions, store: ImageStore, logger: LedgerLogger): Promise<QuotaLedger> {
	const open = () => SqliteLedger.open(options.ledgerUri, options.busyTimeoutMs);
	const folder = dirname(options.ledgerUri.slice('sqlite://'.length));
	try {
		return await open();
	} catch (error) {
		if (!(await isDiskFull(error, folder))) throw error;
		if (await store.releaseSpaceReserve?.()) {
			logger.warn(`The disk holding ${folder} is full: gave up the storage's 1 MiB space reserve so the ledger can open. Free some space.`);
			try {
				return await open();
			} catch (again) {
				if (!(await isDiskFull(again, folder))) throw again;
			}
		}
		const free = await freeBytes(folder);
		throw new Error(
			`The disk holding ${folder} is full (${free ?? 'no'} bytes free), so the quota ledger cannot be opened. ` +
				'Free some space on that disk (deleting images or old temp files frees it), then try again.',
			{ cause: error }
		);
	}
}
