import { OAuth2Scopes, PermissionFlagsBits, PermissionsBitField } from 'discord.js';

/**
 * What the bot asks for when a server adds it, and why each one. Everything the bot says inside an
 * interaction (deferring, progress edits, results, ephemeral notices, button updates) goes through the
 * interaction's webhook, which needs no permission at all. Only a result that outlives the 15-minute
 * interaction token is posted with `channel.send` (lib/jobs/jobReply.ts: a mention, an embed, the
 * image file and the buttons): that message is what these permissions are for. Nothing else is read,
 * managed or deleted, so nothing else is asked.
 */
export const BOT_PERMISSIONS = [
	{ name: 'ViewChannel', label: 'View Channel', why: 'see the channel a late result is posted to' },
	{ name: 'SendMessages', label: 'Send Messages', why: 'post a result that finished after the interaction expired' },
	{ name: 'SendMessagesInThreads', label: 'Send Messages in Threads', why: 'the same, when /imagine was used in a thread' },
	{ name: 'EmbedLinks', label: 'Embed Links', why: 'the result embed (prompt, seed, quota)' },
	{ name: 'AttachFiles', label: 'Attach Files', why: 'the image itself' }
] as const satisfies readonly { name: keyof typeof PermissionFlagsBits; label: string; why: string }[];

/** `bot` joins the server; `applications.commands` lets the server use its slash commands. Nothing more. */
export const INVITE_SCOPES = [OAuth2Scopes.Bot, OAuth2Scopes.ApplicationsCommands] as const;

/** The permission integer of the invite link (the sum of the flags above). */
export function botPermissions(): bigint {
	return new PermissionsBitField(BOT_PERMISSIONS.map((permission) => PermissionFlagsBits[permission.name])).bitfield;
}

/** The link a server owner opens to add this bot: the Developer Portal's OAuth2 URL with our scopes and permissions. */
export function inviteUrl(applicationId: string): string {
	const query = new URLSearchParams({
		client_id: applicationId,
		permissions: botPermissions().toString(),
		scope: INVITE_SCOPES.join(' ')
	});
	return `https://discord.com/oauth2/authorize?${query.toString()}`;
}
