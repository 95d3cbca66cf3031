import type { LimitOverride } from '../QuotaLedger.js';
import type { SqliteConnection } from './SqliteConnection.js';

/**
 * Per-user limit overrides, one row per user. A change is one upsert that keeps the fields it leaves out
 * (`COALESCE(excluded.x, x)`), so two admins changing two fields at the same moment both land; the previous
 * get-then-set through Keyv kept only one of them.
 */
export async function readOverride(connection: SqliteConnection, userId: string): Promise<LimitOverride | null> {
	const [row] = await connection.all('SELECT daily_gens, storage_mb FROM imagine_overrides WHERE user_id = $user', { user: userId });
	return row ? toOverride(row.daily_gens, row.storage_mb) : null;
}

export async function changeOverride(
	connection: SqliteConnection,
	userId: string,
	changes: LimitOverride | null
): Promise<LimitOverride | null> {
	if (changes === null || (changes.dailyGens === undefined && changes.storageMb === undefined)) {
		if (changes === null) await connection.all('DELETE FROM imagine_overrides WHERE user_id = $user', { user: userId });
		return changes === null ? null : readOverride(connection, userId);
	}
	const [row] = await connection.all(
		`INSERT INTO imagine_overrides (user_id, daily_gens, storage_mb) VALUES ($user, $daily, $storage)
		ON CONFLICT (user_id) DO UPDATE SET
			daily_gens = COALESCE(excluded.daily_gens, daily_gens),
			storage_mb = COALESCE(excluded.storage_mb, storage_mb)
		RETURNING daily_gens, storage_mb`,
		{ user: userId, daily: changes.dailyGens ?? null, storage: changes.storageMb ?? null }
	);
	return row ? toOverride(row.daily_gens, row.storage_mb) : null;
}

function toOverride(dailyGens: unknown, storageMb: unknown): LimitOverride | null {
	const override: LimitOverride = {
		...(typeof dailyGens === 'number' ? { dailyGens } : {}),
		...(typeof storageMb === 'number' ? { storageMb } : {})
	};
	return override.dailyGens === undefined && override.storageMb === undefined ? null : override;
}
