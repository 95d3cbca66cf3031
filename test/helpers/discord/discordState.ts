import type {
	APIApplication,
	APIApplicationCommand,
	APIAttachment,
	APIChannel,
	APIGuildMember,
	APIMessage,
	APIRole,
	APIUser,
	GatewayGuildCreateDispatchData
} from 'discord.js';
import {
	EVERYONE_PERMISSIONS,
	guildMember,
	message,
	Permission,
	role,
	snowflake,
	textChannel,
	user,
	type MessageFields
} from './payloads.js';

/** A server the bot is in, as a test describes it; every field has a default. */
export interface GuildSeed {
	id?: string;
	name?: string;
	/** Text channel names; default `['general']`. */
	channels?: string[];
	/** Roles besides @everyone (whose id is the guild's id). */
	roles?: { id?: string; name: string; permissions?: bigint }[];
	/** Members besides the bot; each may hold roles (ids, or names of `roles`). */
	members?: { user: APIUser; roles?: string[]; nick?: string | null }[];
	/** Boost level: 0-1 keep the default 10 MiB upload limit, 2 raises it to 50 MiB, 3 to 100 MiB. */
	premiumTier?: 0 | 1 | 2 | 3;
	/** The bot's own permissions (its role); default read, write, embed links, attach files, use commands. */
	botPermissions?: bigint;
	preferredLocale?: string;
}

export interface GuildRecord {
	id: string;
	name: string;
	ownerId: string;
	channels: APIChannel[];
	roles: APIRole[];
	members: Map<string, APIGuildMember>;
	premiumTier: 0 | 1 | 2 | 3;
	preferredLocale: string;
	joinedAt: Date;
}

/** What the stand-in knows about one dispatched interaction, to answer its callbacks and webhook calls. */
export interface InteractionRecord {
	id: string;
	token: string;
	type: number;
	name: string;
	user: APIUser;
	guildId: string | null;
	/** The channel it came from (a DM channel outside servers). */
	channelId: string;
	createdAt: number;
	attachmentSizeLimit: number;
	/** The callback type Discord accepted, or null while unanswered. */
	acknowledgedWith: number | null;
	/** Set by a test: the token is expired whatever the clock says. */
	expired: boolean;
	/** The reply's message (a deferral or reply creates it; a component's update acts on its source message). */
	originalMessageId: string | null;
	/** For a component: the message it sits on. */
	sourceMessageId: string | null;
	followUpIds: Set<string>;
}

export interface StoredMessage {
	message: APIMessage;
	/** Set for messages an interaction created (the reply and its follow-ups). */
	interactionId: string | null;
}

/** Upload limit per file by boost level (Discord's limits since January 2025). */
const MIB = 1024 * 1024;
export function uploadLimitOf(premiumTier: number): number {
	return premiumTier >= 3 ? 100 * MIB : premiumTier === 2 ? 50 * MIB : 10 * MIB;
}

/**
 * Everything the stand-in holds: the application and its bot user, the servers (channels, roles,
 * members), registered commands, interactions in flight, messages and the files of their attachments.
 */
export class DiscordState {
	public readonly application: { id: string; name: string; owner: APIUser };
	public readonly bot: APIUser;
	public readonly guilds = new Map<string, GuildRecord>();
	public readonly users = new Map<string, APIUser>();
	/** Commands by scope: `global` or a guild id, then by name. */
	public readonly commands = new Map<string, Map<string, APIApplicationCommand>>();
	public readonly interactions = new Map<string, InteractionRecord>();
	public readonly interactionsByToken = new Map<string, InteractionRecord>();
	public readonly messages = new Map<string, StoredMessage>();
	/** Bytes served under `/attachments/...`, Discord's CDN path. */
	public readonly files = new Map<string, { data: Buffer; contentType: string | null }>();

	public constructor(applicationId: string, botName: string, owner: APIUser) {
		this.bot = user(applicationId, botName, true);
		this.application = { id: applicationId, name: botName, owner };
		this.users.set(owner.id, owner);
		this.users.set(this.bot.id, this.bot);
	}

	public addGuild(seed: GuildSeed): GuildRecord {
		const id = seed.id ?? snowflake();
		const roles: APIRole[] = [role(id, '@everyone', EVERYONE_PERMISSIONS, 0)];
		for (const [index, extra] of (seed.roles ?? []).entries()) {
			roles.push(role(extra.id ?? snowflake(), extra.name, extra.permissions ?? EVERYONE_PERMISSIONS, index + 2));
		}
		const botRole = role(snowflake(), this.bot.username, seed.botPermissions ?? EVERYONE_PERMISSIONS, 1);
		roles.push({ ...botRole, managed: true, tags: { bot_id: this.bot.id } });
		const channels = (seed.channels ?? ['general']).map((name, index) => textChannel(snowflake(), id, name, index));
		const joinedAt = new Date();
		const members = new Map<string, APIGuildMember>();
		members.set(this.bot.id, guildMember(this.bot, [botRole.id], joinedAt));
		for (const seeded of seed.members ?? []) {
			this.users.set(seeded.user.id, seeded.user);
			const roleIds = (seeded.roles ?? []).map((wanted) => roles.find((r) => r.id === wanted || r.name === wanted)?.id ?? wanted);
			members.set(seeded.user.id, guildMember(seeded.user, roleIds, joinedAt, seeded.nick ?? null));
		}
		const guild: GuildRecord = {
			id,
			name: seed.name ?? 'Stand-in Server',
			ownerId: this.application.owner.id,
			channels,
			roles,
			members,
			premiumTier: seed.premiumTier ?? 0,
			preferredLocale: seed.preferredLocale ?? 'en-US',
			joinedAt
		};
		this.guilds.set(id, guild);
		return guild;
	}

	public channel(id: string): { channel: APIChannel; guild: GuildRecord } | null {
		for (const guild of this.guilds.values()) {
			const channel = guild.channels.find((candidate) => candidate.id === id);
			if (channel) return { channel, guild };
		}
		return null;
	}

	/** A member's permissions: @everyone's and every role's bits, everything for administrators and the owner. */
	public permissionsOf(guild: GuildRecord, userId: string): bigint {
		if (userId === guild.ownerId) return (1n << 53n) - 1n;
		const member = guild.members.get(userId);
		let bits = BigInt(guild.roles[0]!.permissions);
		for (const roleId of member?.roles ?? []) {
			const held = guild.roles.find((candidate) => candidate.id === roleId);
			if (held) bits |= BigInt(held.permissions);
		}
		return bits & Permission.Administrator ? (1n << 53n) - 1n : bits;
	}

	/** The GUILD_CREATE payload of a server: the guild with its channels, roles and members. */
	public guildCreate(guild: GuildRecord): GatewayGuildCreateDispatchData {
		return {
			id: guild.id,
			name: guild.name,
			icon: null,
			splash: null,
			discovery_splash: null,
			owner_id: guild.ownerId,
			afk_channel_id: null,
			afk_timeout: 300,
			widget_enabled: false,
			verification_level: 1,
			default_message_notifications: 1,
			explicit_content_filter: 2,
			roles: guild.roles,
			emojis: [],
			stickers: [],
			features: [],
			mfa_level: 0,
			application_id: null,
			system_channel_id: guild.channels[0]?.id ?? null,
			system_channel_flags: 0,
			rules_channel_id: null,
			max_members: 500_000,
			vanity_url_code: null,
			description: null,
			banner: null,
			premium_tier: guild.premiumTier,
			premium_subscription_count: [0, 2, 7, 14][guild.premiumTier],
			preferred_locale: guild.preferredLocale,
			public_updates_channel_id: null,
			max_video_channel_users: 25,
			max_stage_video_channel_users: 50,
			nsfw_level: 0,
			premium_progress_bar_enabled: false,
			safety_alerts_channel_id: null,
			incidents_data: null,
			hub_type: null,
			joined_at: guild.joinedAt.toISOString(),
			large: false,
			unavailable: false,
			member_count: guild.members.size,
			voice_states: [],
			members: [...guild.members.values()],
			channels: guild.channels,
			threads: [],
			presences: [],
			stage_instances: [],
			guild_scheduled_events: [],
			soundboard_sounds: []
		} as unknown as GatewayGuildCreateDispatchData;
	}

	/** The application as `GET /applications/@me` returns it. */
	public applicationObject(): APIApplication {
		return {
			id: this.application.id,
			name: this.application.name,
			icon: null,
			description: '',
			summary: '',
			bot_public: true,
			bot_require_code_grant: false,
			bot: this.bot,
			owner: this.application.owner,
			verify_key: '0'.repeat(64),
			team: null,
			flags: 0,
			approximate_guild_count: this.guilds.size,
			install_params: { scopes: ['bot', 'applications.commands'], permissions: String(EVERYONE_PERMISSIONS) },
			integration_types_config: { '0': {}, '1': {} },
			redirect_uris: [],
			interactions_endpoint_url: null,
			event_webhooks_status: 1
		} as unknown as APIApplication;
	}

	public commandsIn(scope: string): Map<string, APIApplicationCommand> {
		let commands = this.commands.get(scope);
		if (!commands) this.commands.set(scope, (commands = new Map()));
		return commands;
	}

	/** Stores a new message; attachments' bytes are served from the CDN path in their URL. */
	public storeMessage(fields: MessageFields, interactionId: string | null): APIMessage {
		const created = message(fields);
		this.messages.set(created.id, { message: created, interactionId });
		return created;
	}

	/** Replaces a stored message's content, keeping its id and creation time; marks it edited. */
	public editMessage(id: string, fields: MessageFields): APIMessage {
		const stored = this.messages.get(id)!;
		stored.message = message(fields, new Date());
		return stored.message;
	}

	/** Serves `data` at Discord's CDN path for this attachment; returns the path. */
	public storeFile(channelId: string, attachmentId: string, filename: string, data: Buffer, contentType: string | null): string {
		const path = `/attachments/${channelId}/${attachmentId}/${encodeURIComponent(filename)}`;
		this.files.set(path, { data, contentType });
		return path;
	}

	public attachmentsOf(messageId: string): APIAttachment[] {
		return this.messages.get(messageId)?.message.attachments ?? [];
	}
}
