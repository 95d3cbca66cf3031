import type { FileKey, FileRow } from '../QuotaLedger.js';
import { FILE_COLUMNS } from './admission.js';
import type { SqliteConnection } from './SqliteConnection.js';

/** Reconcile writes this many rows per statement: fast, and the write lock is never held for long. */
const RECONCILE_BATCH = 500;

/**
 * Applies what reconcile found, a few hundred rows per statement. Each statement is atomic on its own, so no
 * transaction spans them: an explicit transaction on the shared connection would sweep other requests'
 * statements into it, and one on a second connection would hold the write lock while this process's own requests
 * wait for it on every worker thread. Additions skip a row a concurrent save recorded meanwhile.
 */
export async function applyCorrections(
	connection: SqliteConnection,
	remove: readonly FileKey[],
	add: readonly FileRow[]
): Promise<{ removed: Set<string>; added: Set<string> }> {
	const removed = new Set<string>();
	const added = new Set<string>();
	for (let start = 0; start < remove.length; start += RECONCILE_BATCH) {
		const batch = remove.slice(start, start + RECONCILE_BATCH);
		const parameters: Record<string, unknown> = {};
		const keys = batch.map((row, index) => {
			parameters[`u${index}`] = row.userId;
			parameters[`i${index}`] = row.imageId;
			return `($u${index}, $i${index})`;
		});
		const rows = await connection.all(
			`DELETE FROM imagine_files WHERE (user_id, image_id) IN (VALUES ${keys.join(', ')}) RETURNING image_id`,
			parameters
		);
		for (const row of rows) removed.add(String(row.image_id));
	}
	for (let start = 0; start < add.length; start += RECONCILE_BATCH) {
		const batch = add.slice(start, start + RECONCILE_BATCH);
		const parameters: Record<string, unknown> = {};
		const values = batch.map((row, index) => {
			Object.assign(parameters, {
				[`u${index}`]: row.userId,
				[`i${index}`]: row.imageId,
				[`t${index}`]: row.temp ? 1 : 0,
				[`e${index}`]: row.ext,
				[`b${index}`]: row.bytes,
				[`c${index}`]: row.createdAt,
				[`n${index}`]: row.name,
				[`m${index}`]: row.metadata ?? null
			});
			// A row rebuilt from the store charges nothing: its generation was counted (or not) when it was made.
			return `($u${index}, $i${index}, $t${index}, $e${index}, $b${index}, $c${index}, $n${index}, $m${index}, NULL, NULL, 0)`;
		});
		const rows = await connection.all(
			`INSERT INTO imagine_files (${FILE_COLUMNS}) VALUES ${values.join(', ')}
			ON CONFLICT (user_id, image_id) DO NOTHING RETURNING image_id`,
			parameters
		);
		for (const row of rows) added.add(String(row.image_id));
	}
	return { removed, added };
}

/**
 * Recomputes the totals from the file rows in two statements, each atomic, and says how many scopes were wrong.
 * Triggers keep them right; this repairs a ledger edited by hand or by an older version.
 */
export async function rebuildTotals(connection: SqliteConnection): Promise<number> {
	const wrong = await connection.all(
		`WITH actual AS (
			SELECT 'global' AS scope, COALESCE(SUM(bytes), 0) AS bytes, COUNT(*) AS files FROM imagine_files
			UNION ALL SELECT 'temp', COALESCE(SUM(bytes), 0), COUNT(*) FROM imagine_files WHERE temp = 1
			UNION ALL SELECT 'u:' || user_id, SUM(bytes), COUNT(*) FROM imagine_files WHERE temp = 0 GROUP BY user_id
		)
		INSERT INTO imagine_totals (scope, bytes, files)
		SELECT a.scope, a.bytes, a.files FROM actual a LEFT JOIN imagine_totals t ON t.scope = a.scope
		WHERE (t.scope IS NULL AND (a.bytes <> 0 OR a.files <> 0)) OR t.bytes <> a.bytes OR t.files <> a.files
		ON CONFLICT (scope) DO UPDATE SET bytes = excluded.bytes, files = excluded.files
		RETURNING scope`
	);
	const stale = await connection.all(
		`DELETE FROM imagine_totals WHERE scope LIKE 'u:%' AND (files <> 0 OR bytes <> 0)
			AND substr(scope, 3) NOT IN (SELECT user_id FROM imagine_files WHERE temp = 0)
		RETURNING scope`
	);
	return wrong.length + stale.length;
}

/** Drops reservations that expired or belong to a dead owner; returns how many. */
export async function purgeReservations(connection: SqliteConnection, now: number, deadOwners: readonly string[]): Promise<number> {
	let purged = (await connection.all('DELETE FROM imagine_reservations WHERE expires_at <= $now RETURNING id', { now })).length;
	for (const owner of deadOwners) {
		purged += (await connection.all('DELETE FROM imagine_reservations WHERE owner = $owner RETURNING id', { owner })).length;
	}
	return purged;
}
