import { setTimeout as sleep } from 'node:timers/promises';
import {
	AttachmentBuilder,
	ButtonStyle,
	Client,
	ComponentType,
	DiscordAPIError,
	Events,
	GatewayIntentBits,
	MessageFlags,
	type ChatInputCommandInteraction,
	type Interaction
} from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { DiscordStandIn, type DiscordStandInOptions } from './DiscordStandIn.js';
import { callbacksOf, CALLBACK_ROUTE, firstCallbackLatency } from './recorder.js';

let standIn: DiscordStandIn | undefined;
const clients: Client[] = [];
afterEach(async () => {
	for (const client of clients.splice(0)) await client.destroy();
	await standIn?.stop();
	standIn = undefined;
});

async function start(options: DiscordStandInOptions = {}) {
	standIn = await DiscordStandIn.start(options);
	return standIn;
}

/** The real discord.js client, changed only in where its REST points. */
function clientFor(discord: DiscordStandIn, intents: GatewayIntentBits[] = [GatewayIntentBits.Guilds]) {
	const client = new Client({ intents, rest: { api: discord.apiUrl } });
	clients.push(client);
	return client;
}

async function loggedIn(discord: DiscordStandIn) {
	const client = clientFor(discord);
	const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
	await client.login(discord.token);
	await ready;
	return client;
}

/** The next interaction the client emits, handled by `handle`. */
function nextInteraction<T extends Interaction>(client: Client, handle: (interaction: T) => Promise<unknown>) {
	return new Promise<T>((resolve, reject) =>
		client.once(Events.InteractionCreate, (interaction) => {
			handle(interaction as T).then(() => resolve(interaction as T), reject);
		})
	);
}

describe('login', () => {
	it('logs in: gateway information over REST, IDENTIFY with the intents, READY, then the server with its channels and members', async () => {
		const discord = await start();
		const client = await loggedIn(discord);

		expect(discord.recorder.requestsTo('GET /gateway/bot')).toHaveLength(1);
		expect(discord.recorder.requestsTo('GET /gateway/bot')[0]!.auth).toBe('bot');
		expect(discord.gateway.identifies).toEqual([
			expect.objectContaining({ tokenAccepted: true, intents: GatewayIntentBits.Guilds, shard: [0, 1], closedWith: null })
		]);
		expect(client.user!.id).toBe(discord.applicationId);
		expect(client.application!.id).toBe(discord.applicationId);
		const guild = client.guilds.cache.get(discord.guild.id)!;
		expect(guild.available).toBe(true);
		expect(guild.channels.cache.get(discord.channel.id)?.name).toBe('general');
		expect(guild.members.cache.get(discord.member.id)?.user.username).toBe('alice');
		expect(discord.recorder.unknownRoutes).toEqual([]);
	});

	it('a token Discord rejects (REST 401): login fails with TokenInvalid', async () => {
		const discord = await start();
		discord.faults.rejectToken = true;
		await expect(clientFor(discord).login(discord.token)).rejects.toMatchObject({ code: 'TokenInvalid' });
		expect(discord.recorder.requestsTo('GET /gateway/bot')[0]).toMatchObject({
			status: 401,
			response: { message: '401: Unauthorized', code: 0 }
		});
		expect(discord.gateway.identifies).toEqual([]);
	});

	it('a token the gateway rejects (close 4004): login fails with "Authentication failed", shardDisconnect carries 4004', async () => {
		const discord = await start();
		discord.faults.closeIdentifyWith = 4004;
		const client = clientFor(discord);
		const disconnects: number[] = [];
		client.on(Events.ShardDisconnect, (event) => disconnects.push(event.code));
		const failure = await client.login(discord.token).catch((error: unknown) => error as Error & { code?: unknown });
		// What discord.js 14 gives a bot to tell this case apart: a plain Error (no code) and the close code on shardDisconnect.
		expect(failure).toBeInstanceOf(Error);
		expect((failure as Error).message).toBe('Authentication failed');
		expect((failure as { code?: unknown }).code).toBeUndefined();
		expect(disconnects).toEqual([4004]);
		expect(discord.gateway.identifies[0]!.closedWith).toBe(4004);
	});

	it('speaks the gateway protocol: HELLO, heartbeat ACK, a wrong token at IDENTIFY closed with 4004', async () => {
		const discord = await start({ heartbeatIntervalMs: 45_000 });
		const socket = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
		const frames: { op: number; d: unknown }[] = [];
		const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
		const received = (op: number) =>
			new Promise<void>((resolve) => {
				const check = () => (frames.some((frame) => frame.op === op) ? resolve() : setTimeout(check, 5));
				check();
			});
		socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as { op: number; d: unknown }));
		await received(10);
		socket.send(JSON.stringify({ op: 1, d: null }));
		await received(11);
		socket.send(JSON.stringify({ op: 2, d: { token: 'not-the-token', intents: 1, properties: { os: 'linux' } } }));
		expect(await closed).toBe(4004);
		expect(frames[0]).toEqual({ op: 10, d: { heartbeat_interval: 45_000 }, s: null, t: null });
		expect(discord.gateway.identifies).toEqual([expect.objectContaining({ tokenAccepted: false, closedWith: 4004 })]);
	});

	it('privileged intents not enabled (close 4014): login fails with "Used disallowed intents"', async () => {
		const discord = await start();
		const client = clientFor(discord, [GatewayIntentBits.Guilds, GatewayIntentBits.MessageContent]);
		await expect(client.login(discord.token)).rejects.toThrow('Used disallowed intents');
		expect(discord.gateway.identifies[0]).toMatchObject({
			intents: GatewayIntentBits.Guilds | GatewayIntentBits.MessageContent,
			closedWith: 4014
		});
	});

	it('privileged intents enabled on the application: the same login succeeds', async () => {
		const discord = await start({ privilegedIntents: GatewayIntentBits.MessageContent });
		const client = clientFor(discord, [GatewayIntentBits.Guilds, GatewayIntentBits.MessageContent]);
		await client.login(discord.token);
		expect(discord.gateway.identifies[0]!.closedWith).toBeNull();
	});
});

describe('application commands', () => {
	it('bulk overwrite, globally and in a server: ids kept for names that stay, invalid definitions refused with 50035', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const commands = client.application!.commands;
		const first = await commands.set([
			{ name: 'quota', description: 'Your allowance' },
			{ name: 'imagine', description: 'Draw', options: [{ type: 3, name: 'prompt', description: 'What', required: true }] }
		]);
		const second = await commands.set([{ name: 'quota', description: 'Your allowance, again' }]);
		expect(second.first()!.id).toBe(first.find((command) => command.name === 'quota')!.id);
		expect(discord.commands().map((command) => command.name)).toEqual(['quota']);

		await commands.set([{ name: 'gallery', description: 'Server only' }], discord.guild.id);
		expect(discord.commands(discord.guild.id).map((command) => command.name)).toEqual(['gallery']);
		expect((await commands.fetch({ guildId: discord.guild.id })).map((command) => command.name)).toEqual(['gallery']);

		const refused = await commands.set([{ name: 'Not Valid', description: '' }]).catch((error: unknown) => error);
		expect(refused).toMatchObject({ status: 400, code: 50035 });
		expect(discord.commands().map((command) => command.name)).toEqual(['quota']);
	});

	it('a dispatched command carries the registered command id and types its options from the definition', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const [registered] = [
			...(
				await client.application!.commands.set([
					{ name: 'imagine', description: 'Draw', options: [{ type: 10, name: 'strength', description: 'How much' }] }
				])
			).values()
		];
		const received = nextInteraction<ChatInputCommandInteraction>(client, async () => undefined);
		discord.chatInput({ name: 'imagine', options: { strength: 1 } });
		const interaction = await received;
		expect(interaction.commandId).toBe(registered!.id);
		// 1 would be an integer option if typed by its value; the definition says number.
		expect(interaction.options.get('strength')).toMatchObject({ type: 10, value: 1 });
	});
});

describe('interactions', () => {
	it('a slash command arrives as discord.js sees a real one: options, attachment, member with roles, permissions, limits', async () => {
		const discord = await start({ guilds: [{ roles: [{ name: 'Supporter' }], premiumTier: 2 }] });
		const supporter = discord.addMember('bob', { roles: ['Supporter'], nick: 'Bobby' });
		const client = await loggedIn(discord);
		const upload = discord.upload('cat.png', Buffer.from('not really a png'), { contentType: 'image/png' });
		const received = nextInteraction<ChatInputCommandInteraction>(client, async () => undefined);
		const timeline = discord.chatInput({ name: 'imagine', user: supporter, options: { prompt: 'a cat', seed: 42, image: upload } });
		const interaction = await received;

		expect(interaction.isChatInputCommand()).toBe(true);
		expect(interaction.id).toBe(timeline.id);
		expect(interaction.commandName).toBe('imagine');
		expect(interaction.options.getString('prompt')).toBe('a cat');
		expect(interaction.options.getInteger('seed')).toBe(42);
		expect(interaction.options.getAttachment('image')).toMatchObject({ name: 'cat.png', contentType: 'image/png', url: upload.url });
		if (!interaction.inCachedGuild()) throw new Error('expected the interaction in a cached server');
		expect(interaction.member.roles.cache.map((role) => role.name)).toContain('Supporter');
		expect(interaction.member.displayName).toBe('Bobby');
		expect(interaction.channel?.id).toBe(discord.channel.id);
		expect(interaction.appPermissions.has('AttachFiles')).toBe(true);
		expect(interaction.attachmentSizeLimit).toBe(50 * 1024 * 1024);
		expect(interaction.locale).toBe('en-US');
		expect(interaction.context).toBe(0);
		expect(interaction.entitlements.size).toBe(0);
		expect(interaction.authorizingIntegrationOwners.guildId).toBe(discord.guild.id);
		// The stand-in is Discord's CDN for the upload too.
		expect(Buffer.from(await (await fetch(upload.url)).arrayBuffer()).toString()).toBe('not really a png');
	});

	it('a slash command in a DM with the bot: no server, the user instead of a member, the DM context', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const received = nextInteraction<ChatInputCommandInteraction>(client, (interaction) => interaction.reply('hello'));
		const timeline = discord.chatInput({ name: 'quota', guild: null });
		const interaction = await received;
		expect(interaction.guildId).toBeNull();
		expect(interaction.member).toBeNull();
		expect(interaction.user.id).toBe(discord.member.id);
		// A DM channel is only cached with Partials.Channel, as against Discord; its id is always there.
		expect(interaction.channelId).toMatch(/^\d{17,20}$/);
		expect(interaction.channelId).not.toBe(discord.channel.id);
		expect(interaction.context).toBe(1);
		expect(interaction.attachmentSizeLimit).toBe(10 * 1024 * 1024);
		expect(callbacksOf(timeline)[0]!.status).toBe(204);
	});

	it('records one acknowledgement (an ephemeral reply); a second callback is refused with 40060', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		let second: unknown;
		const handled = nextInteraction<ChatInputCommandInteraction>(client, async (interaction) => {
			await interaction.reply({ content: 'only you', flags: MessageFlags.Ephemeral });
			second = await client.rest
				.post(`/interactions/${interaction.id}/${interaction.token}/callback`, {
					body: { type: 4, data: { content: 'again' } },
					auth: false
				})
				.catch((error: unknown) => error);
		});
		const timeline = discord.chatInput({ name: 'quota' });
		await handled;

		const callbacks = callbacksOf(timeline);
		expect(callbacks.map((call) => call.status)).toEqual([204, 400]);
		expect(callbacks[0]!.body).toEqual({ type: 4, data: expect.objectContaining({ content: 'only you', flags: MessageFlags.Ephemeral }) });
		expect(callbacks[0]!.auth).toBe('none');
		expect(second).toBeInstanceOf(DiscordAPIError);
		expect((second as DiscordAPIError).code).toBe(40060);
		expect(firstCallbackLatency(timeline)).toBeGreaterThanOrEqual(0);
	});

	it('a deferral then an edit with a file (multipart): the file is recorded and served back from the attachment URL', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const png = Buffer.concat([
			Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
			Buffer.from([0, 0, 1, 0, 0, 0, 0, 0x80]),
			Buffer.alloc(32)
		]);
		let edited: { attachments: { first(): { url: string; width: number | null; height: number | null } | undefined } } | undefined;
		const handled = nextInteraction<ChatInputCommandInteraction>(client, async (interaction) => {
			await interaction.deferReply();
			edited = (await interaction.editReply({ content: 'here', files: [new AttachmentBuilder(png, { name: 'image.png' })] })) as never;
		});
		const timeline = discord.chatInput({ name: 'imagine', options: { prompt: 'x' } });
		await handled;

		expect(timeline.calls.map((call) => `${call.route} ${call.status}`)).toEqual([
			`${CALLBACK_ROUTE} 204`,
			'PATCH /webhooks/:applicationId/:token/messages/:messageId 200'
		]);
		const edit = timeline.calls[1]!;
		expect(edit.params.messageId).toBe('@original');
		expect(edit.files).toEqual([expect.objectContaining({ field: 'files[0]', name: 'image.png', data: png })]);
		const attachment = edited!.attachments.first()!;
		expect({ width: attachment.width, height: attachment.height }).toEqual({ width: 256, height: 128 });
		expect(Buffer.from(await (await fetch(attachment.url)).arrayBuffer()).equals(png)).toBe(true);
	});

	it('a follow-up while the deferral still shows "thinking…" edits that reply and keeps it public, as Discord documents', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const ids: string[] = [];
		const handled = nextInteraction<ChatInputCommandInteraction>(client, async (interaction) => {
			const deferred = await interaction.deferReply({ withResponse: true });
			ids.push(deferred.resource!.message!.id);
			ids.push((await interaction.followUp({ content: 'first', flags: MessageFlags.Ephemeral })).id);
			ids.push((await interaction.followUp({ content: 'second', flags: MessageFlags.Ephemeral })).id);
		});
		discord.chatInput({ name: 'imagine', options: { prompt: 'x' } });
		await handled;

		expect(ids[1]).toBe(ids[0]);
		expect(ids[2]).not.toBe(ids[0]);
		expect(discord.state.messages.get(ids[0]!)!.message).toMatchObject({ content: 'first', flags: 0 });
		expect(discord.state.messages.get(ids[2]!)!.message).toMatchObject({ content: 'second', flags: MessageFlags.Ephemeral });
	});

	it('autocomplete and a button press on a message the bot sent', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const suggested = nextInteraction<Interaction>(client, async (interaction) => {
			if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
			expect(interaction.options.getFocused(true)).toMatchObject({ name: 'style', value: 'ani' });
			await interaction.respond([{ name: 'anime', value: 'anime' }]);
		});
		const autocomplete = discord.autocomplete({ name: 'imagine', focused: 'style', options: { prompt: 'x', style: 'ani' } });
		await suggested;
		expect(callbacksOf(autocomplete)[0]!.body).toEqual({ type: 8, data: { choices: [{ name: 'anime', value: 'anime' }] } });

		const channel = client.channels.cache.get(discord.channel.id);
		if (!channel?.isSendable()) throw new Error('channel not sendable');
		const sent = await channel.send({
			content: 'pick',
			components: [
				{
					type: ComponentType.ActionRow,
					components: [{ type: ComponentType.Button, customId: 'again', label: 'Again', style: ButtonStyle.Primary }]
				}
			]
		});
		const pressed = nextInteraction<Interaction>(client, async (interaction) => {
			if (!interaction.isButton()) throw new Error('expected a button');
			expect(interaction.message.id).toBe(sent.id);
			await interaction.update({ content: 'picked', components: [] });
		});
		const press = discord.button({ customId: 'again', message: sent.id });
		await pressed;
		expect(callbacksOf(press)[0]).toMatchObject({ status: 204, body: { type: 7 } });
		expect(discord.state.messages.get(sent.id)!.message.content).toBe('picked');
	});

	it('an expired token: the callback fails with 10062 Unknown interaction, webhook calls with 50027', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const errors: unknown[] = [];
		const handled = nextInteraction<ChatInputCommandInteraction>(client, async (interaction) => {
			discord.expire(interaction.id);
			errors.push(await interaction.deferReply().catch((error: unknown) => error));
			errors.push(
				await client.rest
					.patch(`/webhooks/${interaction.applicationId}/${interaction.token}/messages/@original`, { body: { content: 'x' }, auth: false })
					.catch((error: unknown) => error)
			);
		});
		const timeline = discord.chatInput({ name: 'imagine', options: { prompt: 'x' } });
		await handled;

		expect(errors.map((error) => (error as DiscordAPIError).code)).toEqual([10062, 50027]);
		expect(errors.map((error) => (error as DiscordAPIError).status)).toEqual([404, 401]);
		expect(timeline.calls.map((call) => call.status)).toEqual([404, 401]);
	});

	it('a callback later than the acknowledgement window is refused with 10062, as after Discord 3 s', async () => {
		const discord = await start({ acknowledgeWithinMs: 50 });
		const client = await loggedIn(discord);
		let failure: unknown;
		const handled = nextInteraction<ChatInputCommandInteraction>(client, async (interaction) => {
			await sleep(120);
			failure = await interaction.reply('too late').catch((error: unknown) => error);
		});
		discord.chatInput({ name: 'quota' });
		await handled;
		expect((failure as DiscordAPIError).code).toBe(10062);
	});

	it('an unknown webhook token answers 404 10015', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const failure = await client.rest
			.post(`/webhooks/${discord.applicationId}/not-a-token`, { body: { content: 'x' }, auth: false })
			.catch((error: unknown) => error);
		expect(failure).toMatchObject({ status: 404, code: 10015 });
	});
});

describe('faults and records', () => {
	it('a 429 with Discord headers: discord.js waits and retries, and both attempts are recorded on the interaction', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		discord.faults.rateLimit({ route: CALLBACK_ROUTE, retryAfterMs: 100 });
		const handled = nextInteraction<ChatInputCommandInteraction>(client, (interaction) => interaction.reply('after a wait'));
		const timeline = discord.chatInput({ name: 'quota' });
		await handled;

		const [limited, accepted] = callbacksOf(timeline);
		expect(limited).toMatchObject({ status: 429, response: { message: 'You are being rate limited.', retry_after: 0.1, global: false } });
		expect(accepted!.status).toBe(204);
		// Retry-After is whole seconds (rounded up), as Discord sends it; discord.js waited that long.
		expect(accepted!.at - limited!.at).toBeGreaterThanOrEqual(1000);
	});

	it('a slow REST holds answers back; arrival is recorded when the request comes in', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		discord.faults.slowRest(200, CALLBACK_ROUTE);
		const handled = nextInteraction<ChatInputCommandInteraction>(client, (interaction) => interaction.deferReply());
		const timeline = discord.chatInput({ name: 'imagine', options: { prompt: 'x' } });
		await handled;
		const [callback] = callbacksOf(timeline);
		expect(callback!.answeredAt! - callback!.at).toBeGreaterThanOrEqual(200);
		expect(callback!.date).toBeInstanceOf(Date);
	});

	it('an unknown route answers 404 with Discord error JSON and is recorded', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		await expect(client.rest.get('/no/such/route')).rejects.toMatchObject({ status: 404, code: 0 });
		expect(discord.recorder.unknownRoutes.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /no/such/route']);
	});

	it('a dropped connection resumes, and an event sent while it was down is replayed', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		const resumed = new Promise<void>((resolve) => client.once(Events.ShardResume, () => resolve()));
		discord.gateway.disconnect(4000);
		const replayed = nextInteraction<ChatInputCommandInteraction>(client, (interaction) => interaction.reply('still here'));
		const timeline = discord.chatInput({ name: 'quota' });
		await resumed;
		await replayed;
		expect(discord.gateway.resumes).toEqual([expect.objectContaining({ resumed: true })]);
		expect(discord.gateway.identifies).toHaveLength(1);
		expect(callbacksOf(timeline)[0]!.status).toBe(204);
	});

	it('a session the stand-in invalidated is refused on resume, and the client identifies again', async () => {
		const discord = await start();
		const client = await loggedIn(discord);
		// Wait for the shard to be ready again: destroying a client mid-IDENTIFY makes discord.js reconnect on its own.
		const readyAgain = new Promise<void>((resolve) => client.once(Events.ShardReady, () => resolve()));
		discord.gateway.invalidateSessions();
		discord.gateway.disconnect(4000);
		await readyAgain;
		expect(discord.gateway.resumes).toEqual([expect.objectContaining({ resumed: false })]);
		expect(discord.gateway.identifies.map((identify) => identify.closedWith)).toEqual([null, null]);
	}, 30_000);

	it('stops cleanly, even with an answer held back: no server or socket is left and the port is closed', async () => {
		const sockets = () => process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;
		const before = sockets();
		const discord = await DiscordStandIn.start();
		const url = discord.apiUrl;
		const client = await loggedIn(discord);
		discord.faults.slowRest(60_000);
		const pending = client.rest.get('/users/@me').catch((error: unknown) => error);
		await expect.poll(() => discord.recorder.requestsTo('GET /users/@me').length).toBe(1);
		await client.destroy();
		await discord.stop();
		expect(await pending).toBeInstanceOf(Error);
		await expect.poll(sockets).toBeLessThanOrEqual(before);
		await expect(fetch(`${url}/v10/users/@me`)).rejects.toThrow();
	});
});
