import type { BlocklistRow, BlockRow, GateExpectation, GuildSettingsChange, GuildSettingsRow } from '../QuotaLedger.js';
import type { SqliteConnection, SqlRow } from './SqliteConnection.js';
import { changedGuildColumns, expectedGateValue, guildColumnValues, idList } from '../guildSettingsColumns.js';

/**
 * The owners' controls kept in the SQLite ledger: the prompt blocklists and blocked users. Each entry is added or removed by a
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

export async function setBlock(connection: SqliteConnection, block: BlockRow): Promise<void> {
	await connection.all(
		`INSERT INTO imagine_blocks (user_id, guild_id, reason, until, blocked_at) VALUES ($user, $guild, $reason, $until, $at)
		ON CONFLICT (user_id, guild_id) DO UPDATE SET reason = excluded.reason, until = excluded.until, blocked_at = excluded.blocked_at`,
		{ user: block.userId, guild: block.guildId, reason: block.reason, until: block.until, at: block.blockedAt }
	);
}

export async function removeBlock(connection: SqliteConnection, userId: string, guildId: string): Promise<BlockRow | null> {
	const [row] = await connection.all('DELETE FROM imagine_blocks WHERE user_id = $user AND guild_id = $guild RETURNING *', {
		user: userId,
		guild: guildId
	});
	return row ? toBlock(row) : null;
}

export async function blocksOf(connection: SqliteConnection, userId: string, guildIds: readonly string[]): Promise<BlockRow[]> {
	if (guildIds.length === 0) return [];
	const rows = await connection.all(
		'SELECT * FROM imagine_blocks WHERE user_id = $user AND guild_id IN (SELECT value FROM json_each($guilds)) ORDER BY guild_id',
		{ user: userId, guilds: JSON.stringify(guildIds) }
	);
	return rows.map(toBlock);
}

function toBlock(row: SqlRow): BlockRow {
	return {
		userId: String(row.user_id),
		guildId: String(row.guild_id),
		reason: typeof row.reason === 'string' ? row.reason : null,
		until: typeof row.until === 'number' ? row.until : null,
		blockedAt: Number(row.blocked_at)
	};
}

export async function readGuildSettings(connection: SqliteConnection, guildId: string): Promise<GuildSettingsRow | null> {
	const [row] = await connection.all('SELECT * FROM imagine_guild_settings WHERE guild_id = $guild', { guild: guildId });
	return row ? toGuildSettings(row) : null;
}

export async function changeGuildSettings(
	connection: SqliteConnection,
	guildId: string,
	changes: GuildSettingsChange,
	expected?: GateExpectation
): Promise<GuildSettingsRow | null> {
	const values = guildColumnValues(changes);
	const updates = changedGuildColumns(changes).map((column) => `${column} = excluded.${column}`);
	const condition = expected ? expectedGateValue(expected) : null;
	const [row] = await connection.all(
		`INSERT INTO imagine_guild_settings (guild_id, enabled, channel_ids, role_ids, member_daily_gens, guild_daily_gens, nsfw_lax)
		VALUES ($guild, COALESCE($enabled, 1), $channels, $roles, $memberDaily, $guildDaily, COALESCE($nsfwLax, 0))
		ON CONFLICT (guild_id) DO ${updates.length > 0 ? `UPDATE SET ${updates.join(', ')}` : 'UPDATE SET guild_id = guild_id'}
		${condition ? `WHERE ${condition.column} IS $expected` : ''}
		RETURNING *`,
		{ guild: guildId, ...values, ...(condition ? { expected: condition.value } : {}) }
	);
	return row ? toGuildSettings(row as SqlRow) : null;
}

function toGuildSettings(row: SqlRow): GuildSettingsRow {
	return {
		guildId: String(row.guild_id),
		enabled: Boolean(row.enabled),
		channelIds: idList(row.channel_ids),
		roleIds: idList(row.role_ids),
		memberDailyGens: typeof row.member_daily_gens === 'number' ? row.member_daily_gens : null,
		guildDailyGens: typeof row.guild_daily_gens === 'number' ? row.guild_daily_gens : null,
		nsfwLax: Boolean(row.nsfw_lax)
	};
}
