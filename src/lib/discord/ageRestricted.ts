import type { Channel } from 'discord.js';

/**
 * Whether Discord marks the channel age-restricted (NSFW), for a server's laxer setting there. A thread takes its
 * parent's flag (threads have none of their own); a DM, or a channel the client has not cached, never is.
 */
export function isAgeRestricted(channel: Channel | null): boolean {
	if (!channel) return false;
	const flagged = channel.isThread() ? channel.parent : channel;
	return flagged !== null && 'nsfw' in flagged && flagged.nsfw === true;
}
