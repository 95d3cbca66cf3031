import { container } from '@sapphire/framework';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestBot, type TestBot } from './helpers/botHarness.js';
import { command, imagine, isPrivate, USER_A, userA } from './helpers/flows.js';

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
