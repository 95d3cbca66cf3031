import { join } from 'node:path';
import { PermissionFlagsBits } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { botPermissions } from '../../src/lib/invite.js';
import { startBotProcess, type BotProcess } from '../helpers/discord/botProcess.js';
import { DiscordStandIn } from '../helpers/discord/DiscordStandIn.js';
import { CALLBACK_ROUTE } from '../helpers/discord/recorder.js';
import type { GuildRecord } from '../helpers/discord/discordState.js';
import { makeTempDir } from '../helpers/storageFixtures.js';

/*
 * The invite link's permissions are exactly what the bot needs: a result that outlives the interaction token is the
 * one message the bot posts through the channel (everything else goes through the interaction, which needs no
 * permission). Here each token expires as soon as it is acknowledged, so the /imagine result takes that path: in
 * a server where the bot's role holds the invite's permissions (and @everyone none of them) it is posted, image and
 * embed; without Attach Files it is refused, as Discord would refuse it.
 */

const CHANNEL_MESSAGES = 'POST /channels/:channelId/messages';
let discord: DiscordStandIn;
let bot: BotProcess;
let full: GuildRecord;
let noFiles: GuildRecord;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
	discord = await DiscordStandIn.start({
		acknowledgeWithinMs: 20_000,
		guilds: [
			{ name: 'Invited with the link', botPermissions: botPermissions() },
			{ name: 'Attach Files taken away', botPermissions: botPermissions() & ~PermissionFlagsBits.AttachFiles }
		]
	});
	[full, noFiles] = [...discord.state.guilds.values()] as [GuildRecord, GuildRecord];
	// Servers whose @everyone may do none of it (Discord's default @everyone can): only the bot's own role counts.
	for (const guild of [full, noFiles]) {
		const everyone = guild.roles.find((role) => role.id === guild.id)!;
		everyone.permissions = String(BigInt(everyone.permissions) & ~botPermissions());
	}
	const temp = await makeTempDir('imagine-permissions-');
	cleanups.push(temp.cleanup);
	bot = startBotProcess(discord, { cwd: temp.dir, storageRoot: join(temp.dir, 'root') });
	await bot.waitForLine(/Ready as Imagine/, 60_000);
	await discord.recorder.waitForRequest((request) => request.route === 'PUT /applications/:applicationId/commands');
}, 90_000);

afterAll(async () => {
	await bot?.stop();
	await discord?.stop();
	for (const cleanup of cleanups.splice(0)) await cleanup();
}, 60_000);

async function lateResultIn(guild: GuildRecord) {
	const user = guild === full ? discord.member : discord.addMember('bob', { guild });
	const timeline = discord.chatInput({ name: 'imagine', guild, user, options: { prompt: 'a lighthouse at dusk' } });
	// The deferral is accepted, then the token dies: the bot learns it only when its next edit is refused (50027).
	await discord.recorder.waitForInteractionCall(timeline.id, (call) => call.route === CALLBACK_ROUTE, 30_000);
	discord.expire(timeline.id);
	return discord.recorder
		.waitForRequest((request) => request.route === CHANNEL_MESSAGES && request.params.channelId === guild.channels[0]!.id, 60_000)
		.catch((error: unknown) => {
			const calls = discord.recorder.requests.map((request) => `${request.route ?? request.path} ${request.status}`);
			throw new Error(`${String(error)}\nrequests:\n${calls.join('\n')}\nbot:\n${bot.lines.join('\n')}`);
		});
}

describe('the permissions of the invite link', () => {
	it(
		'are enough for a late result: posted in the channel with its image, its embed and a mention of the user',
		{ timeout: 90_000 },
		async () => {
			const posted = await lateResultIn(full);
			expect(posted.status).toBe(200);
			expect(posted.files).toHaveLength(1);
			const body = posted.body as { content: string; embeds: unknown[]; allowed_mentions: { users: string[] } };
			expect(body.content).toBe(`<@${discord.member.id}>, your image is ready.`);
			expect(body.embeds).toHaveLength(1);
			expect(body.allowed_mentions.users).toEqual([discord.member.id]);
		}
	);

	it('lack one (Attach Files) and the late result is refused: the permission is really needed', { timeout: 90_000 }, async () => {
		const refused = await lateResultIn(noFiles);
		expect(refused.status).toBe(403);
		expect(refused.response).toMatchObject({ code: 50013 });
	});
});
