import type { APIApplicationCommand, APIApplicationCommandOption, APIAttachment, APIChannel, APIMessage, APIUser } from 'discord.js';
import { uploadLimitOf, type DiscordState, type GuildRecord } from './discordState.js';
import { InteractionKind } from './interactionRoutes.js';
import { interactionMember, Permission } from './payloads.js';

/** Where and by whom an interaction happens. */
export interface InteractionPlace {
	user: APIUser;
	/** Null: in a DM with the bot. */
	guild: GuildRecord | null;
	channel: APIChannel;
	locale?: string;
}

/** An option's value: text, a number, a boolean, a user (or a user id for a user option), or an uploaded attachment. */
export type OptionValue = string | number | boolean | APIUser | APIAttachment;

/** Application command option types (Discord's "Application Command Option Type"). */
const OptionType = { Subcommand: 1, SubcommandGroup: 2, String: 3, Integer: 4, Boolean: 5, User: 6, Number: 10, Attachment: 11 } as const;

/** Interaction context types: in a server, in the bot's DM. */
const Context = { Guild: 0, BotDm: 1 } as const;

/** What Discord grants an app in a DM (its docs for `app_permissions`). */
const DM_APP_PERMISSIONS = Permission.AttachFiles | Permission.EmbedLinks | (1n << 17n) | Permission.UseExternalEmojis;

/** The fields every interaction carries, as the gateway sends them in INTERACTION_CREATE. */
function base(state: DiscordState, id: string, token: string, type: number, place: InteractionPlace) {
	const { guild, user, channel } = place;
	const limit = guild ? uploadLimitOf(guild.premiumTier) : uploadLimitOf(0);
	const member = guild?.members.get(user.id);
	return {
		id,
		application_id: state.application.id,
		type,
		token,
		version: 1,
		locale: place.locale ?? 'en-US',
		app_permissions: String(guild ? state.permissionsOf(guild, state.bot.id) : DM_APP_PERMISSIONS),
		entitlements: [],
		attachment_size_limit: limit,
		channel,
		channel_id: channel.id,
		...(guild
			? {
					guild_id: guild.id,
					guild: { id: guild.id, locale: guild.preferredLocale, features: [] },
					guild_locale: guild.preferredLocale,
					member: interactionMember(
						member ?? ({ user, roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 } as never),
						state.permissionsOf(guild, user.id)
					),
					authorizing_integration_owners: { '0': guild.id },
					context: Context.Guild
				}
			: { user, authorizing_integration_owners: { '0': '0' }, context: Context.BotDm })
	};
}

export interface CommandInput {
	/** The registered command (its id and option types), if the bot registered one by this name. */
	command: APIApplicationCommand | undefined;
	name: string;
	subcommand?: string;
	subcommandGroup?: string;
	options?: Record<string, OptionValue>;
}

/** A chat-input command's INTERACTION_CREATE data: options typed from the registered command, `resolved` filled in. */
export function chatInputInteraction(state: DiscordState, id: string, token: string, place: InteractionPlace, input: CommandInput) {
	return { ...base(state, id, token, InteractionKind.ApplicationCommand, place), data: commandData(state, place, input, null) };
}

/** An autocomplete interaction: the options typed so far, one of them focused. */
export function autocompleteInteraction(
	state: DiscordState,
	id: string,
	token: string,
	place: InteractionPlace,
	input: CommandInput & { focused: string }
) {
	return { ...base(state, id, token, InteractionKind.Autocomplete, place), data: commandData(state, place, input, input.focused) };
}

/** A button press on `message`. */
export function buttonInteraction(
	state: DiscordState,
	id: string,
	token: string,
	place: InteractionPlace,
	customId: string,
	message: APIMessage
) {
	return { ...base(state, id, token, InteractionKind.MessageComponent, place), message, data: { custom_id: customId, component_type: 2 } };
}

function commandData(state: DiscordState, place: InteractionPlace, input: CommandInput, focused: string | null) {
	const resolved: Record<string, Record<string, unknown>> = {};
	// Subcommand groups and subcommands nest the options; the command's definitions are read along the same path.
	const path = [
		...(input.subcommandGroup ? [{ name: input.subcommandGroup, type: OptionType.SubcommandGroup }] : []),
		...(input.subcommand ? [{ name: input.subcommand, type: OptionType.Subcommand }] : [])
	];
	let definitions: readonly APIApplicationCommandOption[] = input.command?.options ?? [];
	for (const step of path) {
		definitions =
			(definitions.find((option) => option.name === step.name) as { options?: APIApplicationCommandOption[] } | undefined)?.options ?? [];
	}
	let options: unknown[] = Object.entries(input.options ?? {}).map(([name, value]) => {
		const type = definitions.find((option) => option.name === name)?.type ?? inferType(value);
		return { name, type, value: optionValue(state, place, type, value, resolved), ...(name === focused ? { focused: true } : {}) };
	});
	for (const step of [...path].reverse()) options = [{ ...step, options }];
	return {
		id: input.command?.id ?? '0',
		name: input.name,
		type: 1,
		...(input.command?.guild_id ? { guild_id: input.command.guild_id } : {}),
		options,
		...(Object.keys(resolved).length > 0 ? { resolved } : {})
	};
}

function inferType(value: OptionValue): number {
	if (typeof value === 'string') return OptionType.String;
	if (typeof value === 'boolean') return OptionType.Boolean;
	if (typeof value === 'number') return Number.isInteger(value) ? OptionType.Integer : OptionType.Number;
	return 'filename' in value ? OptionType.Attachment : OptionType.User;
}

/** An option's wire value; users and attachments go by id, their objects into `resolved`. */
function optionValue(
	state: DiscordState,
	place: InteractionPlace,
	type: number,
	value: OptionValue,
	resolved: Record<string, Record<string, unknown>>
) {
	if (type === OptionType.Attachment) {
		const attached = value as APIAttachment;
		(resolved.attachments ??= {})[attached.id] = attached;
		return attached.id;
	}
	if (type === OptionType.User) {
		const mentioned = typeof value === 'string' ? state.users.get(value) : (value as APIUser);
		if (!mentioned) throw new Error(`Unknown user ${String(value)}: create it with standIn.addMember() or pass the user object`);
		(resolved.users ??= {})[mentioned.id] = mentioned;
		const member = place.guild?.members.get(mentioned.id);
		if (member && place.guild) {
			const { user: _user, ...rest } = member;
			(resolved.members ??= {})[mentioned.id] = { ...rest, permissions: String(state.permissionsOf(place.guild, mentioned.id)) };
		}
		return mentioned.id;
	}
	return value;
}
