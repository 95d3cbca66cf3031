/**
 * # A Discord stand-in for tests and benchmarks
 *
 * Discord's REST API (v10) and gateway (JSON, no compression) on 127.0.0.1, on one port the OS picks,
 * spoken to by the real discord.js client unchanged except for where its REST points:
 *
 * ```ts
 * const discord = await DiscordStandIn.start();            // one server, #general, a member "alice"
 * const client = new Client({ intents: ['Guilds'], rest: { api: discord.apiUrl } });
 * await client.login(discord.token);                        // GET /gateway/bot answers the gateway's URL
 * const timeline = discord.chatInput({ name: 'quota' });    // INTERACTION_CREATE through the gateway
 * const reply = await discord.recorder.waitForInteractionCall(timeline.id, (call) => call.route === CALLBACK_ROUTE);
 * await client.destroy();
 * await discord.stop();
 * ```
 *
 * The bot in another process gets the same URL through `DISCORD_API_URL` (a testing-only variable the bot
 * reads in `createClient`) and the token through `DISCORD_TOKEN`.
 *
 * - REST: `GET /gateway/bot`, `/users/@me`, `/applications/@me`; application commands, global and per guild
 *   (list, bulk overwrite, create, get, edit, delete); interaction callbacks; the interaction webhook (edit, get
 *   and delete `@original` or a follow-up, create follow-ups); `POST /channels/:id/messages`; JSON and
 *   multipart bodies. Attachments the bot uploads (and files a test `upload`s) are served back under
 *   `/attachments/...`, Discord's CDN path. Unknown routes answer 404 with Discord's error body and are recorded.
 * - Discord's rules: the bot token on authenticated routes (401 otherwise); one callback per interaction, within
 *   `acknowledgeWithinMs` (3 s; later: 404 Unknown interaction 10062; a second one: 400 40060); the token then
 *   works for `tokenLifetimeMs` (15 min; later: 401 Invalid Webhook Token 50027); upload limits by boost level
 *   (413); IDENTIFY's token and intents (4004, 4013, 4014).
 * - Faults on purpose (`faults`): `rejectToken`, `closeIdentifyWith`, `slowRest(ms, route?)`, `rateLimit({...})`;
 *   `expire(interactionId)`; `gateway.disconnect(code)` and `gateway.invalidateSessions()` for resumes.
 * - `recorder`: every REST request (route, body, files, `performance.now()` and Date of arrival, status), and
 *   per dispatched interaction a timeline of its callbacks and webhook calls in arrival order.
 *   `firstCallbackLatency(timeline)` and `callbacksOf(timeline)` read it.
 *
 * `stop()` closes every socket and the server; nothing keeps the process alive afterwards.
 */
import type { APIApplicationCommand, APIAttachment, APIChannel, APIMessage, APIUser } from 'discord.js';
import { LoopbackServer } from '../../generation/fakes/loopbackServer.js';
import { applicationRoutes } from './applicationRoutes.js';
import { channelRoutes } from './channelRoutes.js';
import { DiscordState, type GuildRecord, type GuildSeed, type InteractionRecord } from './discordState.js';
import { Faults } from './faults.js';
import { GatewayServer } from './gatewayServer.js';
import {
	autocompleteInteraction,
	buttonInteraction,
	chatInputInteraction,
	type CommandInput,
	type InteractionPlace,
	type OptionValue
} from './interactionPayloads.js';
import { interactionRoutes } from './interactionRoutes.js';
import { attachment, fakeToken, guildMember, interactionToken, snowflake, user } from './payloads.js';
import { Recorder, type InteractionTimeline } from './recorder.js';
import { RestServer } from './restServer.js';

export interface DiscordStandInOptions {
	/** The bot token the stand-in accepts (REST and IDENTIFY). Default: a new token of Discord's shape. */
	token?: string;
	/** The application's id, also its bot user's id. */
	applicationId?: string;
	botName?: string;
	/** The application's owner (what `GET /applications/@me` names). Default: a user "owner". */
	owner?: APIUser;
	/** The servers the bot is in; default one. The first is where interactions happen unless told otherwise. */
	guilds?: GuildSeed[];
	/** HELLO's heartbeat interval; Discord's is 41,250 ms. */
	heartbeatIntervalMs?: number;
	/** How long an interaction waits for its callback (Discord: 3 s). */
	acknowledgeWithinMs?: number;
	/** How long an interaction token works (Discord: 15 min). */
	tokenLifetimeMs?: number;
	/** Privileged intents enabled in the "Developer Portal" (bits); IDENTIFY asking for others is closed with 4014. */
	privilegedIntents?: number;
}

/** Who and where, for a dispatched interaction; defaults: the default member, in the first server's first channel. */
export interface InteractionOrigin {
	user?: APIUser;
	/** A server (default the first), or null for a DM with the bot. */
	guild?: GuildRecord | null;
	channel?: APIChannel;
	locale?: string;
}

export interface ChatInputOptions extends InteractionOrigin {
	name: string;
	subcommand?: string;
	subcommandGroup?: string;
	options?: Record<string, OptionValue>;
}

export class DiscordStandIn {
	public readonly token: string;
	public readonly state: DiscordState;
	public readonly recorder: Recorder;
	public readonly faults: Faults;
	public readonly gateway: GatewayServer;
	/** The member interactions come from unless a test says otherwise ("alice", in the first server). */
	public readonly member: APIUser;
	readonly #server: LoopbackServer;
	readonly #rest: RestServer;
	readonly #dmChannels = new Map<string, APIChannel>();

	private constructor(parts: {
		token: string;
		state: DiscordState;
		recorder: Recorder;
		faults: Faults;
		gateway: GatewayServer;
		server: LoopbackServer;
		rest: RestServer;
	}) {
		this.token = parts.token;
		this.state = parts.state;
		this.recorder = parts.recorder;
		this.faults = parts.faults;
		this.gateway = parts.gateway;
		this.#server = parts.server;
		this.#rest = parts.rest;
		this.member = this.addMember('alice');
	}

	public static async start(options: DiscordStandInOptions = {}): Promise<DiscordStandIn> {
		const applicationId = options.applicationId ?? snowflake();
		const token = options.token ?? fakeToken(applicationId);
		const state = new DiscordState(applicationId, options.botName ?? 'Imagine', options.owner ?? user(snowflake(), 'owner'));
		for (const seed of options.guilds ?? [{}]) state.addGuild(seed);
		const recorder = new Recorder();
		const faults = new Faults();
		// Both URLs are known once the server listens; everything that needs them reads them lazily.
		let baseUrl = '';
		const gatewayUrl = () => `${baseUrl.replace(/^http/, 'ws')}/gateway`;
		const gateway = new GatewayServer({
			state,
			faults,
			token,
			heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
			privilegedIntents: options.privilegedIntents ?? 0,
			url: gatewayUrl
		});
		const env = {
			state,
			recorder,
			baseUrl: () => baseUrl,
			gateway: () => ({ url: gatewayUrl(), sessionsStarted: gateway.sessionsStarted }),
			acknowledgeWithinMs: options.acknowledgeWithinMs ?? 3000,
			tokenLifetimeMs: options.tokenLifetimeMs ?? 15 * 60_000
		};
		const rest = new RestServer({
			routes: [...applicationRoutes(env), ...interactionRoutes(env), ...channelRoutes(env)],
			recorder,
			faults,
			token,
			serveStatic: (path, response) => {
				const file = state.files.get(path);
				if (!file) return false;
				response.writeHead(200, { 'content-type': file.contentType ?? 'application/octet-stream', 'content-length': file.data.byteLength });
				response.end(file.data);
				return true;
			}
		});
		const server = await LoopbackServer.listen(rest.handle);
		server.onUpgrade(gateway.handleUpgrade);
		baseUrl = server.url;
		return new DiscordStandIn({ token, state, recorder, faults, gateway, server, rest });
	}

	/** What discord.js's `rest.api` option (and the bot's DISCORD_API_URL) takes: it appends `/v10`. */
	public get apiUrl(): string {
		return this.#server.url;
	}

	public get gatewayUrl(): string {
		return `${this.#server.url.replace(/^http/, 'ws')}/gateway`;
	}

	public get applicationId(): string {
		return this.state.application.id;
	}

	/** The first server. */
	public get guild(): GuildRecord {
		return this.state.guilds.values().next().value!;
	}

	/** The first server's first text channel. */
	public get channel(): APIChannel {
		return this.guild.channels[0]!;
	}

	/** Commands the bot registered, globally or in one server. */
	public commands(scope: 'global' | string = 'global'): APIApplicationCommand[] {
		return [...this.state.commandsIn(scope).values()];
	}

	/** A new member of `guild` (default the first server), holding `roles` (ids or role names). */
	public addMember(username: string, options: { roles?: string[]; nick?: string | null; guild?: GuildRecord } = {}): APIUser {
		const guild = options.guild ?? this.guild;
		const member = user(snowflake(), username);
		const roleIds = (options.roles ?? []).map(
			(wanted) => guild.roles.find((role) => role.id === wanted || role.name === wanted)?.id ?? wanted
		);
		guild.members.set(member.id, guildMember(member, roleIds, new Date(), options.nick ?? null));
		this.state.users.set(member.id, member);
		return member;
	}

	/** An attachment as Discord resolves an upload in a slash command, its bytes served by the stand-in. */
	public upload(filename: string, data: Buffer, options: { contentType?: string | null; channelId?: string } = {}): APIAttachment {
		const id = snowflake();
		const channelId = options.channelId ?? this.channel.id;
		const path = this.state.storeFile(channelId, id, filename, data, options.contentType ?? null);
		return attachment(id, filename, data, `${this.apiUrl}${path}`, { contentType: options.contentType ?? null, ephemeral: true });
	}

	/** Dispatches a slash command (INTERACTION_CREATE); option types come from the command the bot registered. */
	public chatInput(options: ChatInputOptions): InteractionTimeline {
		const place = this.#place(options);
		return this.#dispatch(place, 2, options.name, (id, token) =>
			chatInputInteraction(this.state, id, token, place, this.#commandInput(options, place))
		);
	}

	/** Dispatches an autocomplete request with `focused` the option being typed. */
	public autocomplete(options: ChatInputOptions & { focused: string }): InteractionTimeline {
		const place = this.#place(options);
		return this.#dispatch(place, 4, options.name, (id, token) =>
			autocompleteInteraction(this.state, id, token, place, { ...this.#commandInput(options, place), focused: options.focused })
		);
	}

	/** Dispatches a button press on `message` (a message object, or the id of one the bot created here). */
	public button(options: InteractionOrigin & { customId: string; message: APIMessage | string }): InteractionTimeline {
		const message = typeof options.message === 'string' ? this.state.messages.get(options.message)?.message : options.message;
		if (!message) throw new Error(`No message ${String(options.message)} on the stand-in`);
		if (!this.state.messages.has(message.id)) this.state.messages.set(message.id, { message, interactionId: null });
		const channel = this.state.channel(message.channel_id);
		const place = this.#place({ ...options, ...(channel ? { guild: channel.guild, channel: channel.channel } : {}) });
		return this.#dispatch(
			place,
			3,
			options.customId,
			(id, token) => buttonInteraction(this.state, id, token, place, options.customId, message),
			message.id
		);
	}

	/** Makes an interaction's token expired now: its callbacks answer 10062, its webhook calls 50027. */
	public expire(interactionId: string): void {
		const record = this.state.interactions.get(interactionId);
		if (!record) throw new Error(`No interaction ${interactionId} on the stand-in`);
		record.expired = true;
	}

	public async stop(): Promise<void> {
		this.#rest.abortPending();
		await this.gateway.stop();
		await this.#server.close();
	}

	#place(origin: InteractionOrigin): InteractionPlace {
		const guild = origin.guild === undefined ? this.guild : origin.guild;
		const member = origin.user ?? this.member;
		const channel = origin.channel ?? (guild ? guild.channels[0]! : this.#dmChannel(member));
		return { user: member, guild, channel, ...(origin.locale ? { locale: origin.locale } : {}) };
	}

	#commandInput(options: ChatInputOptions, place: InteractionPlace): CommandInput {
		const command =
			(place.guild ? this.state.commandsIn(place.guild.id).get(options.name) : undefined) ??
			this.state.commandsIn('global').get(options.name);
		return {
			command,
			name: options.name,
			...(options.subcommand ? { subcommand: options.subcommand } : {}),
			...(options.subcommandGroup ? { subcommandGroup: options.subcommandGroup } : {}),
			...(options.options ? { options: options.options } : {})
		};
	}

	#dmChannel(member: APIUser): APIChannel {
		let channel = this.#dmChannels.get(member.id);
		if (!channel) {
			channel = { id: snowflake(), type: 1, recipients: [member], last_message_id: null, flags: 0 } as unknown as APIChannel;
			this.#dmChannels.set(member.id, channel);
		}
		return channel;
	}

	#dispatch(
		place: InteractionPlace,
		type: number,
		name: string,
		build: (id: string, token: string) => object,
		sourceMessageId: string | null = null
	): InteractionTimeline {
		const id = snowflake();
		const token = interactionToken();
		const payload = build(id, token) as { attachment_size_limit: number };
		const record: InteractionRecord = {
			id,
			token,
			type,
			name,
			user: place.user,
			guildId: place.guild?.id ?? null,
			channelId: place.channel.id,
			createdAt: Date.now(),
			attachmentSizeLimit: payload.attachment_size_limit,
			acknowledgedWith: null,
			expired: false,
			originalMessageId: null,
			sourceMessageId,
			followUpIds: new Set()
		};
		this.state.interactions.set(id, record);
		this.state.interactionsByToken.set(token, record);
		const kind = ({ 2: 'chat-input', 3: 'button', 4: 'autocomplete' } as Record<number, string>)[type] ?? String(type);
		const timeline = this.recorder.trackInteraction({
			id,
			token,
			kind,
			name,
			userId: place.user.id,
			dispatchedAt: 0,
			dispatchedDate: new Date()
		});
		timeline.dispatchedAt = this.gateway.dispatch('INTERACTION_CREATE', payload);
		return timeline;
	}
}
