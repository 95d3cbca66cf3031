import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, container } from '@sapphire/framework';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { usageChartSvg } from '../../src/lib/images/usageChart.js';
import { pngBytes } from '../helpers/storageFixtures.js';
import { AttachmentServer, samplePng } from './helpers/attachmentServer.js';
import { dispatch, startTestBot, type TestBot } from './helpers/botHarness.js';
import { customIdsOf, FakeAutocompleteInteraction, FakeChatInputInteraction, type RecordedCall } from './helpers/fakeInteractions.js';
import { command, imagine, isPrivate, isResult, OWNER, owner, press, USER_A, USER_B, userA, userB } from './helpers/flows.js';

let bot: TestBot | undefined;
let server: AttachmentServer | undefined;
afterEach(async () => {
	await bot?.close();
	await server?.close();
	bot = undefined;
	server = undefined;
});

const TIER_ROLE = '900000000000000777';

/**
 * A private answer to a reply deferred in public: the "thinking…" is ended with a note (Discord would give a
 * follow-up sent while it thinks the deferral's public visibility), the ephemeral follow-up, the note removed.
 */
const PRIVATE_AFTER_PUBLIC_DEFERRAL = ['deferReply', 'editReply', 'followUp', 'deleteReply'];

async function userFiles(userId: string): Promise<string[]> {
	return readdir(join(bot!.root, 'images', 'users', userId)).catch(() => []);
}

describe('/imagine', () => {
	it('defers at once, shows progress, then the result: embed, image, footer and buttons carrying the image id', async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 5 } });
		const { interaction, call, imageId, buttons } = await imagine(bot, userA, 'a lighthouse at dusk', {
			style: 'analog-film',
			seed: 42,
			aspect: '16:9'
		});

		expect(interaction.calls[0]).toMatchObject({ method: 'deferReply', payload: { ephemeral: false } });
		const progress = interaction.callsTo('editReply').filter((edit) => edit.payload?.files.length === 0);
		expect(progress.length).toBeGreaterThan(0);
		expect(progress[0]!.payload?.content).toMatch(/^\*\*a lighthouse at dusk\*\*\n(⏳|🎨|💾) .+ · \d+ s$/);

		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Preview · Imagined');
		expect(embed.description).toContain('a lighthouse at dusk');
		expect(embed.description).toContain('not an AI image');
		expect(embed.fields).toEqual(
			expect.arrayContaining([
				{ name: 'Style', value: 'Analog film', inline: true },
				{ name: 'Seed', value: '`42`', inline: true },
				{ name: 'Provider', value: 'Offline preview (not AI)', inline: true },
				{ name: 'Image id', value: `\`${imageId}\``, inline: true }
			])
		);
		expect(embed.fields?.find((field) => field.name === 'Size')?.value).toMatch(/^\d+×\d+$/);
		expect(embed.footer?.text).toMatch(/^Today 1\/5 · Storage \d+(\.\d)?\/500 MB$/);
		expect(call.payload!.files).toHaveLength(1);
		expect(embed.image?.url).toBe(`attachment://${call.payload!.files[0]!.name}`);
		expect(buttons).toEqual(['upscale', 'reroll', 'vary', 'delete'].map((action) => `imagine:${action}:${USER_A}:${imageId}`));
		expect(call.payload!.allowedMentions).toEqual({ parse: [] });

		// Charged once, stored once (image + metadata).
		expect((await container.storage.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 1, pending: 0 });
		expect(await userFiles(USER_A)).toHaveLength(2);
	});

	it('autocompletes styles from what was typed', async () => {
		bot = await startTestBot();
		const interaction = new FakeAutocompleteInteraction({ command: 'imagine', user: userA, focused: { name: 'style', value: 'anal' } });
		dispatch(bot.client, interaction);
		const call = await interaction.waitFor((entry) => entry.method === 'respond');
		expect(call.choices).toEqual([{ name: 'Analog film', value: 'analog-film' }]);

		const all = new FakeAutocompleteInteraction({ command: 'imagine', user: userA, focused: { name: 'style', value: '' } });
		dispatch(bot.client, all);
		expect((await all.waitFor((entry) => entry.method === 'respond')).choices).toHaveLength(17);
	});

	it('denies when the daily allowance is used: deferred first, then a private embed with the reason, the status and when it resets; the public reply removed, nothing charged', async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 1 } });
		await imagine(bot, userA);
		const { interaction, call } = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'again' } }, isPrivate);
		expect(interaction.calls.map((entry) => entry.method)).toEqual(PRIVATE_AFTER_PUBLIC_DEFERRAL);
		expect(call.method).toBe('followUp');
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Daily limit reached');
		expect(embed.description).toMatch(/^Daily generation limit reached \(1\/1\)\. Resets in /);
		expect(embed.fields?.find((field) => field.name === 'Today')?.value).toMatch(/\*\*1\/1\*\*[\s\S]*Resets <t:\d+:R>/);
		expect(embed.fields?.find((field) => field.name === 'When')?.value).toMatch(/^Resets <t:\d+:R>$/);
		expect(embed.fields?.find((field) => field.name === 'Your tier')?.value).toBe('Standard');
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(1);
	});

	it('denies when the caller’s storage is full', async () => {
		bot = await startTestBot({ storage: { maxUserStorageMb: 1, estimatedImageMb: 0.5 } });
		await container.storage.saveImage({ data: pngBytes(800 * 1024), userId: USER_A });
		const { call } = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'x' } }, isPrivate);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Your storage is full');
		expect(embed.description).toContain('Delete images with /images delete');
		expect(embed.fields?.find((field) => field.name === 'Your storage')?.value).toMatch(/\/1 MB\*\*/);
		expect(embed.fields?.find((field) => field.name === 'When')?.value).toContain('/images delete');
	});

	it('denies when the bot’s storage is full', async () => {
		bot = await startTestBot({ storage: { maxGlobalStorageMb: 1, estimatedImageMb: 0.5 } });
		await container.storage.saveImage({ data: pngBytes(800 * 1024), userId: USER_B, temp: true });
		const { call } = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'x' } }, isPrivate);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe("The bot's storage is full");
		expect(embed.fields?.map((field) => field.name)).toContain('Bot storage');
	});

	it('honours role tiers through the member’s roles', async () => {
		bot = await startTestBot({
			storage: { maxUserDailyGens: 0, roleTiers: [{ name: 'Supporter', roleId: TIER_ROLE, dailyGens: 3, storageMb: 50 }] }
		});
		const denied = await command(bot, { command: 'imagine', user: userA, options: { prompt: 'x' } }, isPrivate);
		expect(denied.call.payload!.embeds[0]!.title).toBe('Daily limit reached');
		const allowed = await command(
			bot,
			{ command: 'imagine', user: userA, member: { roles: [TIER_ROLE] }, options: { prompt: 'x' } },
			isResult
		);
		expect(allowed.call.payload!.embeds[0]!.footer?.text).toMatch(/^Today 1\/3 · Storage [\d.]+\/50 MB$/);
	});

	it('shows a bad request (an unknown style) privately, and charges nothing', async () => {
		bot = await startTestBot();
		const { interaction, call } = await command(
			bot,
			{ command: 'imagine', user: userA, options: { prompt: 'x', style: 'watercolour' } },
			isPrivate
		);
		expect(call.method).toBe('followUp');
		expect(call.payload!.embeds[0]!.description).toMatch(/style/i);
		expect(interaction.callsTo('deleteReply')).toHaveLength(1);
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(0);
	});
});

describe('/reimagine and /upscale: the attachment', () => {
	it('/reimagine downloads the attachment the interaction carries and makes a new image from it', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const image = server.attach('cat.png', await samplePng());
		const { call } = await command(
			bot,
			{ command: 'reimagine', user: userA, options: { image, prompt: 'as a watercolour', strength: 0.6 } },
			isResult
		);
		expect(server.hits).toEqual([new URL(image.url).pathname]);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Preview · Reimagined');
		expect(embed.fields?.find((field) => field.name === 'Strength')?.value).toBe('60 %');
		expect(customIdsOf(call.payload)).toHaveLength(4);
	});

	it('/upscale doubles the image, and its result has no Upscale, Re-roll or Vary buttons', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const image = server.attach('small.png', await samplePng(200, 100), { contentType: null });
		const { call } = await command(bot, { command: 'upscale', user: userA, options: { image } }, isResult);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Preview · Upscaled 2×');
		expect(embed.fields?.find((field) => field.name === 'Size')?.value).toBe('400×200');
		expect(customIdsOf(call.payload).map((id) => id.split(':')[1])).toEqual(['delete']);
	});

	it('refuses an obvious non-image from its declared type, before downloading anything', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const pdf = server.attach('report.pdf', Buffer.from('%PDF-1.7 ...'), { contentType: 'application/pdf' });
		const { interaction, call } = await command(
			bot,
			{ command: 'reimagine', user: userA, options: { image: pdf, prompt: 'x' } },
			isPrivate
		);
		expect(call.payload!.embeds[0]!.description).toContain('not an image');
		expect(call.payload!.embeds[0]!.description).toContain('application/pdf');
		expect(interaction.callsTo('deferReply')).toHaveLength(0);
		expect(server.hits).toEqual([]);
	});

	it('refuses an attachment declared over the size limit, before downloading it', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const huge = server.attach('huge.png', await samplePng(), { size: 50 * 1024 * 1024 });
		const { call } = await command(bot, { command: 'upscale', user: userA, options: { image: huge } }, isPrivate);
		expect(call.payload!.embeds[0]!.description).toMatch(/too large: 50 MB, at most 10 MB/);
		expect(server.hits).toEqual([]);
	});

	it('a file that only claims to be an image is sniffed after download and refused; nothing is charged', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const fake = server.attach('notes.png', Buffer.from('just some text, not a PNG at all'), { contentType: 'image/png' });
		const { interaction, call } = await command(
			bot,
			{ command: 'reimagine', user: userA, options: { image: fake, prompt: 'x' } },
			isPrivate
		);
		expect(server.hits).toHaveLength(1);
		expect(call.method).toBe('followUp');
		expect(call.payload!.embeds[0]!.description).toMatch(/not an image/);
		expect(interaction.callsTo('deleteReply')).toHaveLength(1);
		expect((await container.storage.getQuotaStatus(USER_A)).daily).toMatchObject({ used: 0, pending: 0 });
	});

	it('at the daily limit: deferred, then the private denial, and the attachment is never downloaded', async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 1 } });
		server = await AttachmentServer.start();
		await imagine(bot, userA);
		const image = server.attach('cat.png', await samplePng());
		const { interaction, call } = await command(
			bot,
			{ command: 'reimagine', user: userA, options: { image, prompt: 'as a watercolour' } },
			isPrivate
		);
		expect(interaction.calls.map((entry) => entry.method)).toEqual(PRIVATE_AFTER_PUBLIC_DEFERRAL);
		expect(call.payload!.embeds[0]!.title).toBe('Daily limit reached');
		expect(server.hits).toEqual([]);
	});

	it('a download that fails (the CDN answers 404) is reported privately; nothing is charged', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const image = server.attach('gone.png', await samplePng());
		image.url = image.url.replace('/attachments/', '/missing/');
		const { call } = await command(bot, { command: 'upscale', user: userA, options: { image } }, isPrivate);
		expect(call.payload!.embeds[0]!.description).toContain('could not be downloaded');
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(0);
	});
});

describe('the quota preconditions, on another command of the bot', () => {
	/** What a bot adds for its own command: the plugin's three preconditions, answered by this bot's denial listener. */
	class GuardedCommand extends Command {
		public constructor(context: Command.LoaderContext) {
			super(context, { name: 'guarded', description: 'guarded', preconditions: ['DailyLimit', 'UserStorage', 'GlobalStorage'] });
		}

		public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
			await interaction.reply({ content: 'ran' });
		}
	}

	async function startGuarded() {
		bot = await startTestBot({ storage: { maxUserDailyGens: 0 } });
		await container.stores.loadPiece({ store: 'commands', name: 'guarded', piece: GuardedCommand });
	}

	it('a denial before any deferral is one ephemeral reply with the reason and the status', async () => {
		await startGuarded();
		const { interaction, call } = await command(bot!, { command: 'guarded', user: userA }, isPrivate);
		expect(interaction.calls.map((entry) => entry.method)).toEqual(['reply']);
		expect(call.payload!.embeds[0]!.title).toBe('Daily limit reached');
		expect(call.payload!.embeds[0]!.fields?.find((field) => field.name === 'Today')?.value).toMatch(/\*\*0\/0\*\*/);
	});

	it('a denial after a public deferral: the "thinking…" ended, an ephemeral follow-up, the public reply removed', async () => {
		await startGuarded();
		const interaction = new FakeChatInputInteraction({ command: 'guarded', user: userA });
		// As a bot that defers before its preconditions run (a global precondition, a wrapper) would leave it.
		await interaction.deferReply();
		dispatch(bot!.client, interaction);
		const call = await interaction.waitFor(isPrivate);
		await interaction.waitFor((entry) => entry.method === 'deleteReply');
		expect(interaction.calls.map((entry) => entry.method)).toEqual(PRIVATE_AFTER_PUBLIC_DEFERRAL);
		expect(call.payload!.embeds[0]!.title).toBe('Daily limit reached');
	});
});

describe('/quota', () => {
	it("shows the caller's allowance and storage as bars, the reset as a Discord timestamp, and the tier", async () => {
		bot = await startTestBot({ storage: { roleTiers: [{ name: 'Supporter', roleId: TIER_ROLE, dailyGens: 20, storageMb: 2000 }] } });
		await imagine(bot, userA);
		const { call } = await command(bot, { command: 'quota', user: userA, member: { roles: [TIER_ROLE] } }, isPrivate);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Your image quota');
		const today = embed.fields?.find((field) => field.name === 'Today')?.value;
		expect(today).toMatch(/^`█░{11}` \*\*1\/20\*\*\n19 left\. Resets <t:\d+:R> \(<t:\d+:t>\)\.$/);
		expect(embed.fields?.find((field) => field.name === 'Storage')?.value).toMatch(
			/^`█?░*` \*\*[\d.]+\/2000 MB\*\* \([\d.]+ %\)\n1 file\.$/
		);
		expect(embed.fields?.find((field) => field.name === 'Tier')?.value).toBe('Supporter (role tier)');
		const reset = Number(/<t:(\d+):R>/.exec(today!)![1]);
		expect(reset * 1000).toBe((await container.storage.getQuotaStatus(USER_A)).daily.resetsAt.getTime());
	});
});

describe('/images', () => {
	it('list: a contact sheet of thumbnails, the ids, and previous/next buttons that page through', async () => {
		bot = await startTestBot({ storage: { maxUserDailyGens: 100 } });
		const sample = await samplePng(64, 64);
		for (let index = 0; index < 13; index++) {
			await container.storage.saveImage({
				data: sample,
				userId: USER_A,
				metadata: { kind: 'text-to-image', prompt: `image number ${index}` }
			});
		}
		await container.storage.saveImage({ data: sample, userId: USER_B, metadata: { prompt: 'not alice’s' } });

		const { interaction, call } = await command(
			bot,
			{ command: 'images', subcommand: 'list', user: userA },
			(entry) => entry.method === 'editReply'
		);
		expect(interaction.calls[0]).toMatchObject({ method: 'deferReply', payload: { ephemeral: true } });
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe("alice's images · page 1/2");
		expect(embed.description?.split('\n').filter((line) => /^\*\*\d+\.\*\* `[0-9a-z]{16}`/.test(line))).toHaveLength(12);
		expect(embed.description).not.toContain('not alice');
		expect(embed.footer?.text).toMatch(/^13 images · /);
		expect(call.payload!.files[0]!.name).toBe('gallery-1.webp');
		expect(embed.image?.url).toBe('attachment://gallery-1.webp');
		const sheet = await (await import('sharp')).default(call.payload!.files[0]!.data).metadata();
		expect(sheet).toMatchObject({ format: 'webp', width: 4 * 256 + 5 * 8, height: 3 * (256 + 28) + 4 * 8 });
		const row = call.payload!.components[0]!.components;
		expect(row.map((button) => [button.custom_id, button.disabled ?? false])).toEqual([
			[`imagine:page:${USER_A}:0:prev`, true],
			[`imagine:page:${USER_A}:1:next`, false]
		]);

		const next = await press(bot, `imagine:page:${USER_A}:1:next`, userA, (entry) => entry.method === 'editReply');
		expect(next.interaction.calls[0]!.method).toBe('deferUpdate');
		expect(next.call.payload!.embeds[0]!.title).toBe("alice's images · page 2/2");
		expect(next.call.payload!.attachments).toEqual([]);
		expect(next.call.payload!.files[0]!.name).toBe('gallery-2.webp');

		const stranger = await press(bot, `imagine:page:${USER_A}:1:next`, userB, isPrivate);
		expect(stranger.call.payload!.embeds[0]!.title).toBe('Not yours');
	});

	it('list: an empty gallery says how to start', async () => {
		bot = await startTestBot();
		const { call } = await command(bot, { command: 'images', subcommand: 'list', user: userA }, (entry) => entry.method === 'editReply');
		expect(call.payload!.embeds[0]!.title).toBe('Your gallery is empty');
		expect(call.payload!.files).toEqual([]);
	});

	it('show and delete autocomplete over the caller’s own images only', async () => {
		bot = await startTestBot();
		const mine = await imagine(bot, userA, 'a red fox in snow');
		await imagine(bot, userB, 'a blue whale');
		const interaction = new FakeAutocompleteInteraction({
			command: 'images',
			subcommand: 'show',
			user: userA,
			focused: { name: 'id', value: 'fox' }
		});
		dispatch(bot.client, interaction);
		const choices = (await interaction.waitFor((entry) => entry.method === 'respond')).choices!;
		expect(choices).toHaveLength(1);
		expect(choices[0]!.value).toBe(mine.imageId);
		expect(choices[0]!.name).toMatch(/^a red fox in snow · [\d.]+ (KB|MB) · \d{4}-\d\d-\d\d \d\d:\d\d · [0-9a-z]{6}$/);

		const none = new FakeAutocompleteInteraction({
			command: 'images',
			subcommand: 'delete',
			user: userA,
			focused: { name: 'id', value: 'whale' }
		});
		dispatch(bot.client, none);
		expect((await none.waitFor((entry) => entry.method === 'respond')).choices).toEqual([]);
	});

	it('show: the image with its details and buttons; another user’s id is simply not found', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA, 'a red fox in snow', { seed: 7 });
		const { call } = await command(bot, { command: 'images', subcommand: 'show', user: userA, options: { id: imageId } }, isResult);
		const embed = call.payload!.embeds[0]!;
		expect(embed.title).toBe('Preview · From the gallery');
		expect(embed.fields?.find((field) => field.name === 'Seed')?.value).toBe('`7`');
		expect(embed.fields?.find((field) => field.name === 'Created')?.value).toMatch(/^<t:\d+:f>$/);
		expect(customIdsOf(call.payload)).toContain(`imagine:delete:${USER_A}:${imageId}`);

		const other = await command(bot, { command: 'images', subcommand: 'show', user: userB, options: { id: imageId } }, isPrivate);
		expect(other.call.payload!.embeds[0]!.description).toContain('No image with that id');
	});

	it('delete: removes the image and gives its space back', async () => {
		bot = await startTestBot();
		const { imageId } = await imagine(bot, userA);
		const before = (await container.storage.getQuotaStatus(USER_A)).user.usedBytes;
		expect(before).toBeGreaterThan(0);
		const { call } = await command(bot, { command: 'images', subcommand: 'delete', user: userA, options: { id: imageId } }, isPrivate);
		expect(call.payload!.embeds[0]!.title).toBe('Image deleted');
		expect((await container.storage.getQuotaStatus(USER_A)).user.usedBytes).toBe(0);
		expect(await userFiles(USER_A)).toEqual([]);
		const again = await command(bot, { command: 'images', subcommand: 'delete', user: userA, options: { id: imageId } }, isPrivate);
		expect(again.call.payload!.embeds[0]!.title).toBe('Not found');
	});
});

describe('owner-only commands', () => {
	const deniedAsMember = (call: RecordedCall) => {
		expect(call.method).toBe('reply');
		expect(call.payload!.ephemeral).toBe(true);
		expect(call.payload!.embeds[0]!.title).toBe('Owners only');
	};

	it('refuse members and serve owners (OWNER_IDS)', async () => {
		bot = await startTestBot({ owners: [OWNER] });
		await imagine(bot, userA);
		for (const [name, subcommand, options] of [
			['storage', 'report', {}],
			['storage', 'cleanup', {}],
			['quota-admin', 'reset', { user: userA }],
			['quota-admin', 'set', { user: userA, daily: 50 }]
		] as const) {
			const { call } = await command(bot, { command: name, subcommand, user: userA, options }, isPrivate);
			deniedAsMember(call);
		}
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(1);

		const report = await command(bot, { command: 'storage', subcommand: 'report', user: owner }, (entry) => entry.method === 'editReply');
		expect(report.interaction.calls[0]).toMatchObject({ method: 'deferReply', payload: { ephemeral: true } });
		const embed = report.call.payload!.embeds[0]!;
		expect(embed.title).toBe('Storage report');
		// The usage chart beside the text: a PNG drawn from SVG, shown as the embed's image.
		const chart = report.call.payload!.files.find((file) => file.name === 'usage.png');
		expect(chart).toBeDefined();
		expect(embed.image?.url).toBe('attachment://usage.png');
		const drawn = await sharp(chart!.data).metadata();
		expect([drawn.format, drawn.width, drawn.height]).toEqual(['png', 900, 520]);
		// What it draws: today's generation among the 30 days, the user storing the most.
		const svg = usageChartSvg(await container.storage.getReport());
		expect(svg).toContain('Generations per day (30 days) · total 1');
		expect(svg).toContain(`…${USER_A.slice(-6)}`);
		expect(embed.fields?.find((field) => field.name === 'Top users')?.value).toMatch(
			new RegExp(`^1\\. <@${USER_A}> · [\\d.]+ MB · 1 file$`)
		);
		expect(embed.fields?.find((field) => field.name === 'Files')?.value).toBe('1');

		const cleanup = await command(bot, { command: 'storage', subcommand: 'cleanup', user: owner }, (entry) => entry.method === 'editReply');
		expect(cleanup.call.payload!.embeds[0]!.description).toBe('No temp files older than 7 days.');
	});

	it('/quota-admin reset gives the day back, or deletes the user’s images', async () => {
		bot = await startTestBot({ owners: [OWNER], storage: { maxUserDailyGens: 1 } });
		await imagine(bot, userA);
		const daily = await command(
			bot,
			{ command: 'quota-admin', subcommand: 'reset', user: owner, options: { user: userA } },
			(e) => e.method === 'editReply'
		);
		expect(daily.call.payload!.embeds[0]!.description).toContain("Today's allowance given back (1 generation was used)");
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(0);
		expect(await userFiles(USER_A)).toHaveLength(2);

		const storage = await command(
			bot,
			{ command: 'quota-admin', subcommand: 'reset', user: owner, options: { user: userA, what: 'storage' } },
			(e) => e.method === 'editReply'
		);
		expect(storage.call.payload!.embeds[0]!.description).toMatch(/Deleted 1 image, freed [\d.]+ MB\./);
		expect(await userFiles(USER_A)).toEqual([]);
		expect((await container.storage.getQuotaStatus(USER_A)).user.usedBytes).toBe(0);
	});

	it('/quota-admin set gives a user their own limits, and clears them', async () => {
		bot = await startTestBot({ owners: [OWNER], storage: { maxUserDailyGens: 1 } });
		const set = await command(
			bot,
			{ command: 'quota-admin', subcommand: 'set', user: owner, options: { user: userA, daily: 3, storage: 42 } },
			isPrivate
		);
		const embed = set.call.payload!.embeds[0]!;
		expect(embed.title).toBe('Image quota of alice');
		expect(embed.fields?.find((field) => field.name === 'Tier')?.value).toBe('Personal limits (set by an owner)');
		expect((await container.storage.getQuotaStatus(USER_A)).daily.limit).toBe(3);
		await imagine(bot, userA);
		await imagine(bot, userA);

		const cleared = await command(bot, { command: 'quota-admin', subcommand: 'set', user: owner, options: { user: userA } }, isPrivate);
		expect(cleared.call.payload!.embeds[0]!.description).toContain('Personal limits cleared');
		expect((await container.storage.getQuotaStatus(USER_A)).limits.source).toBe('default');
	});

	it('without OWNER_IDS, the application’s owner (or its team) is the owner', async () => {
		bot = await startTestBot({ owners: [] });
		let fetches = 0;
		Object.defineProperty(bot.client, 'application', {
			configurable: true,
			value: {
				fetch: async () => {
					fetches++;
					return { owner: { id: '999999999999999999', members: new Map([[OWNER, { id: OWNER }]]) } };
				}
			}
		});
		deniedAsMember((await command(bot, { command: 'storage', subcommand: 'report', user: userA }, isPrivate)).call);
		const report = await command(bot, { command: 'storage', subcommand: 'report', user: owner }, (entry) => entry.method === 'editReply');
		expect(report.call.payload!.embeds[0]!.title).toBe('Storage report');
		expect(fetches).toBe(1); // cached
	});
});
