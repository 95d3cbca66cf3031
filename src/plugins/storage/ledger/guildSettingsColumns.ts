import type { GuildSettingsChange } from './QuotaLedger.js';

/** How both ledger backends store a server's settings: the id lists as JSON text (null: no restriction). */

/** The values of a change as columns hold them (lists as JSON text). */
export function guildColumnValues(changes: GuildSettingsChange) {
	const list = (ids: string[] | null | undefined) => (ids ? JSON.stringify(ids) : null);
	return {
		enabled: changes.enabled === undefined ? null : changes.enabled ? 1 : 0,
		channels: list(changes.channelIds),
		roles: list(changes.roleIds),
		memberDaily: changes.memberDailyGens ?? null,
		guildDaily: changes.guildDailyGens ?? null
	};
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
