import type { APIInteractionGuildMember, GuildMember, User } from 'discord.js';
import { roleIdsOf } from '../../plugins/storage/index.js';

export interface Requester {
	id: string;
	/** The name people see in this server. */
	name: string;
	avatarUrl: string | null;
	/** Role ids, for role tiers (none in DMs). */
	roleIds: string[];
}

/** Who is asking, from an interaction's user and member (resolved GuildMember or raw API member). */
export function requesterOf(interaction: { user: User; member: GuildMember | APIInteractionGuildMember | null }): Requester {
	const { user, member } = interaction;
	const memberName = member ? ('displayName' in member ? member.displayName : (member.nick ?? null)) : null;
	return {
		id: user.id,
		name: memberName ?? user.globalName ?? user.username,
		avatarUrl: typeof user.displayAvatarURL === 'function' ? user.displayAvatarURL() : null,
		roleIds: roleIdsOf(member)
	};
}
