import {
	ActionRowBuilder,
	AttachmentBuilder,
	EmbedBuilder,
	InteractionType,
	MessageFlags,
	type APIEmbed,
	type ApplicationCommandOptionChoiceData
} from 'discord.js';

/**
 * Interactions built by hand: plain objects with exactly what the bot calls on a discord.js interaction
 * (deferReply, editReply, reply, followUp, update, respond, options.get*, user, member, channel...). Every
 * response is recorded, normalised to what Discord would receive (embeds and components as JSON, files
 * as name + bytes, the ephemeral flag), so tests assert on the payloads.
 */

export interface RecordedFile {
	name: string;
	data: Buffer;
	description?: string;
}

export interface RecordedPayload {
	content?: string | null;
	embeds: APIEmbed[];
	files: RecordedFile[];
	components: { type: number; components: { custom_id?: string; label?: string; disabled?: boolean; style?: number }[] }[];
	ephemeral: boolean;
	attachments?: unknown[];
	allowedMentions?: unknown;
	raw: unknown;
}

export interface RecordedCall {
	method: string;
	payload: RecordedPayload | null;
	choices?: ApplicationCommandOptionChoiceData[];
	at: number;
}

export interface FakeUser {
	id: string;
	username: string;
	globalName: string | null;
	displayName: string;
	tag: string;
	bot: boolean;
	displayAvatarURL: () => string;
}

export function fakeUser(id: string, username = `user${id.slice(-4)}`): FakeUser {
	return {
		id,
		username,
		globalName: null,
		displayName: username,
		tag: username,
		bot: false,
		displayAvatarURL: () => `https://cdn.discordapp.com/embed/avatars/0.png`
	};
}

/** A server text channel (age-restricted with `nsfw`), or a thread of `parent`: what discord.js's channels tell. */
export class FakeChannel {
	public readonly id: string;
	public readonly sent: RecordedPayload[] = [];
	/** Age-restricted; a thread has no flag of its own (discord.js's ThreadChannel has none). */
	public readonly nsfw?: boolean;
	/** The channel a thread belongs to; null for a channel that is not a thread. */
	public readonly parent: FakeChannel | null;
	public constructor(options: { id?: string; nsfw?: boolean; parent?: FakeChannel } = {}) {
		this.id = options.id ?? '900000000000000900';
		this.parent = options.parent ?? null;
		if (!this.parent) this.nsfw = options.nsfw ?? false;
	}
	public isThread(): boolean {
		return this.parent !== null;
	}
	public isSendable(): boolean {
		return true;
	}
	public isTextBased(): boolean {
		return true;
	}
	public async send(payload: unknown) {
		this.sent.push(normalize(payload));
		return { id: '900000000000000901' };
	}
}

export interface FakeAttachment {
	id: string;
	name: string;
	url: string;
	proxyURL: string;
	size: number;
	contentType: string | null;
	width: number | null;
	height: number | null;
}

interface CommonInit {
	user?: FakeUser;
	/** Raw API member (roles as ids), as Discord sends it for an uncached member; null in DMs. */
	member?: { roles: string[]; nick?: string | null } | null;
	guildId?: string | null;
	channel?: FakeChannel | null;
	attachmentSizeLimit?: number;
	createdTimestamp?: number;
}

/** A response method that fails: `editReply: () => error` makes editReply reject with that error. */
type Failures = Partial<Record<'editReply' | 'followUp' | 'deleteReply' | 'reply', () => Error>>;

abstract class FakeInteraction {
	public readonly id = String(BigInt(Date.now()) << 22n);
	public readonly applicationId = '900000000000000001';
	public readonly token = 'fake-token';
	public readonly user: FakeUser;
	public readonly member: { roles: string[]; nick?: string | null } | null;
	public readonly guildId: string | null;
	public readonly channel: FakeChannel | null;
	public readonly channelId: string | null;
	public readonly attachmentSizeLimit: number;
	public readonly createdTimestamp: number;
	public deferred = false;
	public replied = false;
	public ephemeral: boolean | null = null;
	public readonly calls: RecordedCall[] = [];
	public failures: Failures = {};
	readonly #waiters: { predicate: (call: RecordedCall) => boolean; resolve: (call: RecordedCall) => void }[] = [];

	public constructor(init: CommonInit) {
		this.user = init.user ?? fakeUser('123456789012345678');
		this.member = init.member === undefined ? { roles: [] } : init.member;
		this.guildId = init.guildId === undefined ? '900000000000000002' : init.guildId;
		this.channel = init.channel === undefined ? new FakeChannel() : init.channel;
		this.channelId = this.channel?.id ?? null;
		this.attachmentSizeLimit = init.attachmentSizeLimit ?? 10 * 1024 * 1024;
		this.createdTimestamp = init.createdTimestamp ?? Date.now();
	}

	public get createdAt() {
		return new Date(this.createdTimestamp);
	}

	public inGuild(): boolean {
		return this.guildId !== null;
	}
	public inCachedGuild(): boolean {
		return false;
	}
	public inRawGuild(): boolean {
		return this.guildId !== null;
	}
	public isRepliable(): boolean {
		return true;
	}
	public isChatInputCommand(): boolean {
		return false;
	}
	public isContextMenuCommand(): boolean {
		return false;
	}
	public isAutocomplete(): boolean {
		return false;
	}
	public isMessageComponent(): boolean {
		return false;
	}
	public isModalSubmit(): boolean {
		return false;
	}
	public isButton(): boolean {
		return false;
	}
	public isAnySelectMenu(): boolean {
		return false;
	}
	public isCommand(): boolean {
		return false;
	}

	/** The calls to one method, in order. */
	public callsTo(method: string): RecordedCall[] {
		return this.calls.filter((call) => call.method === method);
	}

	/** The last call (any method), or the last to `method`. */
	public last(method?: string): RecordedCall | undefined {
		const list = method ? this.callsTo(method) : this.calls;
		return list[list.length - 1];
	}

	/** Resolves with the first recorded call (past or future) that matches. */
	public waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs = 15_000): Promise<RecordedCall> {
		const found = this.calls.find(predicate);
		if (found) return Promise.resolve(found);
		return new Promise((resolve, reject) => {
			const timer = setTimeout(
				() => reject(new Error(`No matching response within ${timeoutMs} ms; calls: ${this.calls.map((call) => call.method).join(', ')}`)),
				timeoutMs
			);
			this.#waiters.push({
				predicate,
				resolve: (call) => {
					clearTimeout(timer);
					resolve(call);
				}
			});
		});
	}

	protected record(method: string, payload: unknown, extra: Partial<RecordedCall> = {}): RecordedCall {
		const failure = this.failures[method as keyof Failures];
		if (failure) throw failure();
		const call: RecordedCall = { method, payload: payload === undefined ? null : normalize(payload), at: Date.now(), ...extra };
		this.calls.push(call);
		for (const waiter of [...this.#waiters]) {
			if (waiter.predicate(call)) {
				this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
				waiter.resolve(call);
			}
		}
		return call;
	}

	public async deferReply(options: { flags?: number } = {}) {
		if (this.deferred || this.replied) throw new Error('InteractionAlreadyReplied');
		this.deferred = true;
		this.ephemeral = isEphemeral(options);
		this.record('deferReply', options);
		return {};
	}

	public async reply(payload: unknown) {
		if (this.deferred || this.replied) throw new Error('InteractionAlreadyReplied');
		this.record('reply', payload);
		this.replied = true;
		this.ephemeral = isEphemeral(payload);
		return {};
	}

	public async editReply(payload: unknown) {
		if (!this.deferred && !this.replied) throw new Error('InteractionNotReplied');
		this.record('editReply', payload);
		this.replied = true;
		return { id: '900000000000000902' };
	}

	public async followUp(payload: unknown) {
		if (!this.deferred && !this.replied) throw new Error('InteractionNotReplied');
		this.record('followUp', payload);
		// As discord.js does: a follow-up counts as a reply.
		this.replied = true;
		return { id: '900000000000000903' };
	}

	public async deleteReply() {
		this.record('deleteReply', undefined);
	}

	public async fetchReply() {
		return { id: '900000000000000902' };
	}
}

type OptionValue = string | number | boolean | FakeUser | FakeAttachment | { id: string };

class FakeOptions {
	public constructor(
		private readonly values: Record<string, OptionValue | undefined>,
		private readonly subcommand: string | null,
		private readonly focused: { name: string; value: string } | null
	) {}

	#get(name: string, required: boolean): OptionValue | null {
		const value = this.values[name];
		if (value === undefined) {
			if (required) throw new TypeError(`CommandInteractionOptionNotFound: ${name}`);
			return null;
		}
		return value;
	}
	public getString(name: string, required = false) {
		return this.#get(name, required) as string | null;
	}
	public getInteger(name: string, required = false) {
		return this.#get(name, required) as number | null;
	}
	public getNumber(name: string, required = false) {
		return this.#get(name, required) as number | null;
	}
	public getBoolean(name: string, required = false) {
		return this.#get(name, required) as boolean | null;
	}
	public getUser(name: string, required = false) {
		return this.#get(name, required) as FakeUser | null;
	}
	/** A channel or role option: an object with its id, as discord.js resolves them. */
	public getChannel(name: string, required = false) {
		return this.#get(name, required) as { id: string } | null;
	}
	public getRole(name: string, required = false) {
		return this.#get(name, required) as { id: string } | null;
	}
	public getAttachment(name: string, required = false) {
		return this.#get(name, required) as FakeAttachment | null;
	}
	public getSubcommand(required = true) {
		if (!this.subcommand && required) throw new TypeError('CommandInteractionOptionNoSubcommand');
		return this.subcommand;
	}
	public getSubcommandGroup() {
		return null;
	}
	public getFocused(full = false) {
		if (!this.focused) throw new TypeError('AutocompleteInteractionOptionNoFocusedOption');
		return full ? this.focused : this.focused.value;
	}
}

export class FakeChatInputInteraction extends FakeInteraction {
	public readonly type = InteractionType.ApplicationCommand;
	public readonly commandId: string;
	public readonly commandName: string;
	public readonly commandGuildId = null;
	public readonly options: FakeOptions;

	public constructor(init: CommonInit & { command: string; subcommand?: string; options?: Record<string, OptionValue | undefined> }) {
		super(init);
		this.commandName = init.command;
		this.commandId = `cmd-${init.command}`;
		this.options = new FakeOptions(init.options ?? {}, init.subcommand ?? null, null);
	}

	public override isChatInputCommand(): boolean {
		return true;
	}
	public override isCommand(): boolean {
		return true;
	}
}

export class FakeAutocompleteInteraction extends FakeInteraction {
	public readonly type = InteractionType.ApplicationCommandAutocomplete;
	public readonly commandId: string;
	public readonly commandName: string;
	public readonly options: FakeOptions;
	public responded = false;

	public constructor(init: CommonInit & { command: string; subcommand?: string; focused: { name: string; value: string } }) {
		super(init);
		this.commandName = init.command;
		this.commandId = `cmd-${init.command}`;
		this.options = new FakeOptions({ [init.focused.name]: init.focused.value }, init.subcommand ?? null, init.focused);
	}

	public override isAutocomplete(): boolean {
		return true;
	}
	public override isRepliable(): boolean {
		return false;
	}

	public async respond(choices: ApplicationCommandOptionChoiceData[]) {
		if (this.responded) throw new Error('InteractionAlreadyReplied');
		this.responded = true;
		this.record('respond', undefined, { choices });
	}
}

export class FakeButtonInteraction extends FakeInteraction {
	public readonly type = InteractionType.MessageComponent;
	public readonly customId: string;
	public readonly componentType = 2;
	public readonly message = { id: '900000000000000904' };

	public constructor(init: CommonInit & { customId: string }) {
		super(init);
		this.customId = init.customId;
	}

	public override isMessageComponent(): boolean {
		return true;
	}
	public override isButton(): boolean {
		return true;
	}

	public async update(payload: unknown) {
		if (this.deferred || this.replied) throw new Error('InteractionAlreadyReplied');
		this.record('update', payload);
		this.replied = true;
		return {};
	}

	public async deferUpdate() {
		if (this.deferred || this.replied) throw new Error('InteractionAlreadyReplied');
		this.deferred = true;
		this.record('deferUpdate', undefined);
		return {};
	}
}

/** Buttons found in recorded components, by custom id. */
export function customIdsOf(payload: RecordedPayload | null | undefined): string[] {
	return (payload?.components ?? []).flatMap((row) => row.components.map((component) => component.custom_id ?? ''));
}

function isEphemeral(payload: unknown): boolean {
	const flags = (payload as { flags?: unknown } | null)?.flags;
	if (typeof flags === 'number' || typeof flags === 'bigint') return (BigInt(flags) & BigInt(MessageFlags.Ephemeral)) !== 0n;
	if (Array.isArray(flags)) return flags.includes(MessageFlags.Ephemeral);
	return (payload as { ephemeral?: boolean } | null)?.ephemeral === true;
}

/** A payload as Discord would receive it. */
export function normalize(payload: unknown): RecordedPayload {
	const value = (typeof payload === 'string' ? { content: payload } : (payload ?? {})) as Record<string, unknown>;
	const embeds = ((value.embeds as unknown[]) ?? []).map((embed) => (embed instanceof EmbedBuilder ? embed.toJSON() : (embed as APIEmbed)));
	const files = ((value.files as unknown[]) ?? []).map((file) => {
		if (file instanceof AttachmentBuilder) {
			return { name: file.name ?? '', data: file.attachment as Buffer, ...(file.description ? { description: file.description } : {}) };
		}
		return file as RecordedFile;
	});
	const components = ((value.components as unknown[]) ?? []).map((row) =>
		row instanceof ActionRowBuilder
			? (row.toJSON() as RecordedPayload['components'][number])
			: (row as RecordedPayload['components'][number])
	);
	return {
		...(value.content === undefined ? {} : { content: value.content as string | null }),
		embeds,
		files,
		components,
		ephemeral: isEphemeral(value),
		...(value.attachments === undefined ? {} : { attachments: value.attachments as unknown[] }),
		...(value.allowedMentions === undefined ? {} : { allowedMentions: value.allowedMentions }),
		raw: payload
	};
}
