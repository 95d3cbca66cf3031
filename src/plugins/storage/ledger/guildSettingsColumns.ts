import type { GateExpectation, GuildSettingsChange } from './QuotaLedger.js';

/** How both ledger backends store a server's settings: the id lists as JSON text (null: no restriction). */

/** The settings' columns, by field: the only names a change can write (never a caller's string). */
export const GUILD_SETTINGS_COLUMNS = {
	enabled: 'enabled',
	channelIds: 'channel_ids',
	roleIds: 'role_ids',
	memberDailyGens: 'member_daily_gens',
	guildDailyGens: 'guild_daily_gens',
	nsfwLax: 'nsfw_lax'
} as const satisfies Record<keyof GuildSettingsChange, string>;

/** The columns a change writes (the fields it gives), for the upsert's `SET` list. */
export function changedGuildColumns(changes: GuildSettingsChange): string[] {
	return (Object.keys(GUILD_SETTINGS_COLUMNS) as (keyof GuildSettingsChange)[])
		.filter((field) => changes[field] !== undefined)
		.map((field) => GUILD_SETTINGS_COLUMNS[field]);
}

/** The values of a change as columns hold them (lists as JSON text, flags as 1 or 0; null where the change gives none). */
export function guildColumnValues(changes: GuildSettingsChange) {
	const list = (ids: string[] | null | undefined) => (ids ? JSON.stringify(ids) : null);
	const flag = (value: boolean | undefined) => (value === undefined ? null : value ? 1 : 0);
	return {
		enabled: flag(changes.enabled),
		channels: list(changes.channelIds),
		roles: list(changes.roleIds),
		memberDaily: changes.memberDailyGens ?? null,
		guildDaily: changes.guildDailyGens ?? null,
		nsfwLax: flag(changes.nsfwLax)
	};
}

/** A gate's expected ids as its column holds them (JSON text, null: no restriction), for a compare-and-set. */
export function expectedGateValue(expected: GateExpectation): { column: string; value: string | null } {
	return { column: GUILD_SETTINGS_COLUMNS[expected.gate], value: expected.ids ? JSON.stringify(expected.ids) : null };
}

/** A list column: JSON text of ids, or null (no restriction). */
export function idList(value: unknown): string[] | null {
	if (typeof value !== 'string') return null;
	try {
		const parsed: unknown = JSON.parse(value);
		return Array.isArray(parsed) ? parsed.map(String) : null;
	} catch {
		return null;
	}
}
