import type { BlocklistRow } from '../QuotaLedger.js';
import type { SqliteConnection } from './SqliteConnection.js';

/**
 * The owners' controls kept in the SQLite ledger: the prompt blocklists. Each entry is added or removed by a
 * statement of its own (never a read-modify-write of a whole list), so two admins editing one list at once both land.
 */
export async function readBlocklist(connection: SqliteConnection, guildIds: readonly string[]): Promise<BlocklistRow[]> {
	if (guildIds.length === 0) return [];
	const rows = await connection.all(
		'SELECT guild_id, entry, added_at FROM imagine_blocklist WHERE guild_id IN (SELECT value FROM json_each($guilds)) ORDER BY added_at, entry',
		{ guilds: JSON.stringify(guildIds) }
	);
	return rows.map((row) => ({ guildId: String(row.guild_id), entry: String(row.entry), addedAt: Number(row.added_at) }));
}

export async function addToBlocklist(
	connection: SqliteConnection,
	guildId: string,
	entries: readonly string[],
	now: number
): Promise<string[]> {
	const added: string[] = [];
	for (const entry of new Set(entries)) {
		const rows = await connection.all(
			'INSERT INTO imagine_blocklist (guild_id, entry, added_at) VALUES ($guild, $entry, $now) ON CONFLICT DO NOTHING RETURNING entry',
			{ guild: guildId, entry, now }
		);
		if (rows.length > 0) added.push(entry);
	}
	return added;
}

export async function removeFromBlocklist(connection: SqliteConnection, guildId: string, entries: readonly string[]): Promise<string[]> {
	const removed: string[] = [];
	for (const entry of new Set(entries)) {
		const rows = await connection.all('DELETE FROM imagine_blocklist WHERE guild_id = $guild AND entry = $entry RETURNING entry', {
			guild: guildId,
			entry
		});
		if (rows.length > 0) removed.push(entry);
	}
	return removed;
}
