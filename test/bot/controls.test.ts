import { container } from '@sapphire/framework';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestBot, type TestBot } from './helpers/botHarness.js';
import { FakeChannel, type RecordedCall } from './helpers/fakeInteractions.js';
import { command, imagine, isPrivate, USER_A, USER_B, userA, userB as fakeUserB } from './helpers/flows.js';

/** The owners' controls through the real client: deferred first, then a private refusal; nothing charged. */

let bot: TestBot | undefined;
afterEach(async () => {
	await bot?.close();
	bot = undefined;
});

/** The guild the fake interactions come from by default. */
const GUILD = '900000000000000002';
const PRIVATE_AFTER_PUBLIC_DEFERRAL = ['deferReply', 'editReply', 'followUp', 'deleteReply'];

describe('/imagine under the owners’ controls', () => {
	it("a prompt on the server's blocklist: deferred, then refused privately without echoing the word; nothing charged", async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 5 } });
		await container.storage.controls.addToBlocklist(['kraken'], GUILD);
		const { interaction, call } = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'a K R A K E N' } }, isPrivate);
		expect(interaction.calls.map((entry) => entry.method)).toEqual(PRIVATE_AFTER_PUBLIC_DEFERRAL);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Prompt not allowed');
		expect(JSON.stringify(call.payload).toLowerCase()).not.toContain('kraken');
		expect((await container.storage.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
		// In a DM the server's list does not apply.
		const dm = await command(
			bot,
			{ command: 'imagine', user: userA, guildId: null, options: { prompt: 'a kraken' } },
			(entry) => entry.method === 'editReply' && (entry.payload?.files.length ?? 0) > 0
		);
		expect(dm.call.payload?.files).toHaveLength(1);
	});

	it('a blocked user: deferred, then refused privately with the reason', async () => {
		bot = await startTestBot();
		await imagine(bot, userA);
		await container.storage.controls.block(USER_A, { reason: 'spam' });
		const { interaction, call } = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'again' } }, isPrivate);
		expect(interaction.calls[0]?.method).toBe('deferReply');
		expect(call.payload!.embeds[0]).toMatchObject({
			title: 'You are blocked',
			description: 'You are blocked from generating images with this bot. Reason: spam'
		});
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(1);
	});
});

describe('/imagine-settings, for a server’s admins', () => {
	const ART = '900000000000000901';
	const settings = (subcommand: string, options: Record<string, string | number | boolean | { id: string } | undefined> = {}) =>
		command(bot!, { command: 'imagine-settings', subcommand, user: userA, options }, (entry) => entry.method === 'editReply');

	it('limits generation to a channel: elsewhere a member gets a private "use #channel"; answers are private and deferred first', async () => {
		bot = await startTestBot();
		const { interaction, call } = await settings('channels', { add: { id: ART } });
		expect(interaction.calls[0]).toMatchObject({ method: 'deferReply', payload: { ephemeral: true } });
		expect(call.payload!.embeds[0]!.fields).toEqual(expect.arrayContaining([{ name: 'Channels', value: `<#${ART}>` }]));
		// The fake interactions come from channel 900000000000000900.
		const refused = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'a lighthouse' } }, isPrivate);
		expect(refused.call.payload!.embeds[0]).toMatchObject({
			title: 'Not here',
			description: `Image generation works in <#${ART}> in this server: use that channel.`
		});
		await settings('channels', { everywhere: true });
		await imagine(bot, userA);
	});

	it("a daily limit per member tightens the bot's own, and cannot raise it; a server blocklist and block apply here", async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 2 } });
		await settings('daily', { limit: 50 });
		expect((await container.storage.getQuotaStatus(USER_A, { guildId: GUILD })).daily.limit).toBe(2);
		await settings('daily', { limit: 1 });
		expect((await container.storage.getQuotaStatus(USER_A, { guildId: GUILD })).daily.limit).toBe(1);
		await imagine(bot, userA);
		const denied = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'again' } }, isPrivate);
		expect(denied.call.payload!.embeds[0]!.title).toBe('Daily limit reached');

		const listed = await settings('blocklist', { add: 'kraken, sea serpent' });
		expect(listed.call.payload!.embeds[0]!.description).toContain('`sea serpent`');
		const pattern = await settings('blocklist', { add: '/x+/' });
		expect(pattern.call.payload!.embeds[0]!.description).toContain("bot owner's list only");

		const blocked = await settings('block', { user: fakeUserB, reason: 'spam', hours: 2 });
		expect(blocked.call.payload!.embeds[0]!.title).toBe('Member blocked');
		expect(await container.storage.controls.blockOf(USER_B, GUILD)).toMatchObject({ guildId: GUILD, reason: 'spam' });
		expect(await container.storage.controls.blockOf(USER_B)).toBeNull();
		await settings('unblock', { user: fakeUserB });
		expect(await container.storage.controls.blockOf(USER_B, GUILD)).toBeNull();
	});
});

describe('the laxer setting in age-restricted channels', () => {
	const nsfw = new FakeChannel({ id: '900000000000000910', nsfw: true });
	const thread = new FakeChannel({ id: '900000000000000911', parent: nsfw });
	const delivered = (entry: RecordedCall) => entry.method === 'editReply' && (entry.payload?.files.length ?? 0) > 0;
	const settingsIn = (channel: FakeChannel, subcommand: string, options: Record<string, boolean> = {}) =>
		command(bot!, { command: 'imagine-settings', subcommand, user: userA, channel, options }, (entry) => entry.method === 'editReply');
	const fieldOf = (call: RecordedCall, name: string) => call.payload!.embeds[0]!.fields?.find((field) => field.name === name)?.value;

	it("turned on by the server's admins where the owner allows it: the server's list does not apply in age-restricted channels and their threads", async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 5, allowNsfwLax: true } });
		await container.storage.controls.addToBlocklist(['kraken'], GUILD);
		const turnedOn = await settingsIn(nsfw, 'age-restricted', { lax: true });
		expect(fieldOf(turnedOn.call, 'Age-restricted channels')).toMatch(/^Laxer: .*\(in force in this channel\)$/);
		expect(await container.storage.controls.settingsOf(GUILD)).toMatchObject({ nsfwLax: true });

		for (const channel of [nsfw, thread]) {
			const made = await command(bot, { command: 'imagine', user: userA, channel, options: { prompt: 'a kraken' } }, delivered);
			expect(made.call.payload?.files).toHaveLength(1);
		}
		// A channel that is not age-restricted: refused as before.
		const refused = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'a kraken' } }, isPrivate);
		expect(refused.call.payload!.embeds[0]!.title).toBe('Prompt not allowed');
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(2);

		const quota = await command(bot, { command: 'quota', user: userA, channel: nsfw }, isPrivate);
		expect(quota.call.payload!.embeds[0]!.description).toContain("the server's laxer setting");
		const elsewhere = await command(bot, { command: 'quota', user: userA }, isPrivate);
		expect(elsewhere.call.payload!.embeds[0]!.description).toBeUndefined();
	});

	it('where the owner does not allow it: turning it on gets a clear private answer, and the settings say so', async () => {
		bot = await startTestBot();
		const refused = await settingsIn(nsfw, 'age-restricted', { lax: true });
		expect(refused.interaction.calls[0]).toMatchObject({ method: 'deferReply', payload: { ephemeral: true } });
		expect(refused.call.payload!.embeds[0]!.description).toContain(
			"The bot's owner does not allow a laxer setting in age-restricted channels"
		);
		expect(await container.storage.controls.settingsOf(GUILD)).toMatchObject({ nsfwLax: false });
		const shown = await settingsIn(nsfw, 'show');
		expect(fieldOf(shown.call, 'Age-restricted channels')).toBe("Same rules as elsewhere (the bot's owner does not allow a laxer setting)");
	});
});
