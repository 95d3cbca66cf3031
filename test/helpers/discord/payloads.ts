import { randomBytes } from 'node:crypto';
import type {
	APIAttachment,
	APIChannel,
	APIEmbed,
	APIGuildMember,
	APIInteractionGuildMember,
	APIMessage,
	APIRole,
	APIUser,
	ChannelFlags,
	GuildMemberFlags,
	RoleFlags,
	UserFlags
} from 'discord.js';

/**
 * Builders for the API objects the stand-in sends: users, roles, channels, members, messages and
 * attachments, with the fields Discord's API reference lists for v10. Types come from discord.js's
 * re-export of discord-api-types (the community's typing of those docs), so a missing field is a
 * compile error here, not a surprise in the client.
 */

/** Discord's epoch (the first second of 2015), the base of every snowflake's timestamp. */
const DISCORD_EPOCH = 1_420_070_400_000n;
let increment = 0n;

/** A new snowflake: milliseconds since Discord's epoch in the top 42 bits, then worker, process and a counter. */
export function snowflake(at = Date.now()): string {
	increment = (increment + 1n) & 0xfffn;
	return String(((BigInt(at) - DISCORD_EPOCH) << 22n) | (1n << 17n) | (1n << 12n) | increment);
}

/** When a snowflake was made, in Unix milliseconds. */
export function snowflakeTime(id: string): number {
	return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

/** A token of the shape Discord's tokens have (three base64url parts); not a real token. */
export function fakeToken(userId: string): string {
	return `${Buffer.from(userId).toString('base64url')}.${randomBytes(4).toString('base64url')}.${randomBytes(27).toString('base64url')}`;
}

/** An interaction token: long, opaque, URL-safe. */
export function interactionToken(): string {
	return `aW50ZXJhY3Rpb246${randomBytes(96).toString('base64url')}`;
}

/** Permission bits used here (Discord's "Bitwise Permission Flags"). */
export const Permission = {
	Administrator: 1n << 3n,
	ViewChannel: 1n << 10n,
	SendMessages: 1n << 11n,
	EmbedLinks: 1n << 14n,
	AttachFiles: 1n << 15n,
	ReadMessageHistory: 1n << 16n,
	UseExternalEmojis: 1n << 18n,
	UseApplicationCommands: 1n << 31n
} as const;

/** What @everyone may do in a new server, roughly: read, write, embed, attach, use commands. */
export const EVERYONE_PERMISSIONS =
	Permission.ViewChannel |
	Permission.SendMessages |
	Permission.EmbedLinks |
	Permission.AttachFiles |
	Permission.ReadMessageHistory |
	Permission.UseExternalEmojis |
	Permission.UseApplicationCommands;

export function user(id: string, username: string, bot = false): APIUser {
	return {
		id,
		username,
		discriminator: '0',
		global_name: bot ? null : username[0]!.toUpperCase() + username.slice(1),
		avatar: null,
		bot,
		system: false,
		mfa_enabled: false,
		banner: null,
		accent_color: null,
		locale: 'en-US',
		flags: 0 as UserFlags,
		public_flags: 0 as UserFlags,
		avatar_decoration_data: null
	};
}

export function role(id: string, name: string, permissions: bigint, position: number): APIRole {
	return {
		id,
		name,
		color: 0,
		colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
		hoist: false,
		icon: null,
		unicode_emoji: null,
		position,
		permissions: String(permissions),
		managed: false,
		mentionable: false,
		flags: 0 as RoleFlags
	};
}

/** A guild text channel (type 0). */
export function textChannel(id: string, guildId: string, name: string, position: number): APIChannel {
	return {
		id,
		type: 0,
		guild_id: guildId,
		name,
		position,
		permission_overwrites: [],
		nsfw: false,
		topic: null,
		last_message_id: null,
		rate_limit_per_user: 0,
		parent_id: null,
		flags: 0 as ChannelFlags
	} as APIChannel;
}

export function guildMember(member: APIUser, roles: string[], joinedAt: Date, nick: string | null = null): APIGuildMember {
	return {
		user: member,
		nick,
		avatar: null,
		banner: null,
		roles,
		joined_at: joinedAt.toISOString(),
		premium_since: null,
		deaf: false,
		mute: false,
		flags: 0 as GuildMemberFlags,
		pending: false,
		communication_disabled_until: null
	};
}

/** A member as an interaction carries it: with the member's permissions in the channel. */
export function interactionMember(member: APIGuildMember, permissions: bigint): APIInteractionGuildMember {
	return { ...member, user: member.user, permissions: String(permissions) } as APIInteractionGuildMember;
}

/** The PNG header's size (IHDR), so attachments of generated images carry width and height as Discord's do. */
export function imageSize(data: Buffer): { width: number; height: number } | null {
	const isPng = data.length >= 24 && data.readUInt32BE(0) === 0x89504e47 && data.toString('latin1', 12, 16) === 'IHDR';
	return isPng ? { width: data.readUInt32BE(16), height: data.readUInt32BE(20) } : null;
}

export function attachment(
	id: string,
	filename: string,
	data: Buffer,
	url: string,
	fields: { contentType?: string | null; description?: string; ephemeral?: boolean } = {}
): APIAttachment {
	const size = imageSize(data);
	return {
		id,
		filename,
		size: data.byteLength,
		url,
		proxy_url: url,
		...(fields.contentType ? { content_type: fields.contentType } : {}),
		...(fields.description ? { description: fields.description } : {}),
		...(size ? { width: size.width, height: size.height } : { width: null, height: null }),
		...(fields.ephemeral ? { ephemeral: true } : {})
	} as APIAttachment;
}

export interface MessageFields {
	id: string;
	channelId: string;
	guildId?: string | null;
	author: APIUser;
	content?: string;
	embeds?: APIEmbed[];
	components?: unknown[];
	attachments?: APIAttachment[];
	flags?: number;
	/** Set on messages an interaction created (its response or follow-ups). */
	interaction?: { id: string; type: number; user: APIUser; name?: string; guildId?: string | null };
	webhookId?: string;
	applicationId?: string;
}

/** A message object, as Discord returns it from a create or an edit. */
export function message(fields: MessageFields, editedAt: Date | null = null): APIMessage {
	const { interaction } = fields;
	return {
		id: fields.id,
		channel_id: fields.channelId,
		...(fields.guildId ? { guild_id: fields.guildId } : {}),
		author: fields.author,
		content: fields.content ?? '',
		timestamp: new Date(snowflakeTime(fields.id)).toISOString(),
		edited_timestamp: editedAt?.toISOString() ?? null,
		tts: false,
		mention_everyone: false,
		mentions: [],
		mention_roles: [],
		attachments: fields.attachments ?? [],
		embeds: fields.embeds ?? [],
		pinned: false,
		// 20: the reply to a slash command; 19: a reply (a follow-up or a component's message); 0: a plain message.
		type: interaction ? (interaction.type === 2 ? 20 : 19) : 0,
		flags: fields.flags ?? 0,
		components: (fields.components ?? []) as APIMessage['components'],
		...(fields.webhookId ? { webhook_id: fields.webhookId } : {}),
		...(fields.applicationId ? { application_id: fields.applicationId } : {}),
		...(interaction
			? {
					interaction_metadata: {
						id: interaction.id,
						type: interaction.type,
						user: interaction.user,
						authorizing_integration_owners: interaction.guildId ? { '0': interaction.guildId } : { '1': interaction.user.id }
					},
					interaction: { id: interaction.id, type: interaction.type, name: interaction.name ?? '', user: interaction.user }
				}
			: {})
	} as APIMessage;
}
