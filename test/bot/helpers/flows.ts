import { container } from '@sapphire/framework';
import { expect } from 'vitest';
import { dispatch, type TestBot } from './botHarness.js';
import {
	customIdsOf,
	FakeButtonInteraction,
	FakeChatInputInteraction,
	fakeUser,
	type FakeUser,
	type RecordedCall
} from './fakeInteractions.js';

export const USER_A = '123456789012345678';
export const USER_B = '223456789012345678';
export const OWNER = '323456789012345678';
export const userA = fakeUser(USER_A, 'alice');
export const userB = fakeUser(USER_B, 'bob');
export const owner = fakeUser(OWNER, 'olivia');

/** The reply that carries a result: an edit with an embed and a file. */
export const isResult = (call: RecordedCall) => call.method === 'editReply' && (call.payload?.files.length ?? 0) > 0;
/** Any private answer: an ephemeral reply or follow-up. */
export const isPrivate = (call: RecordedCall) =>
	(call.method === 'reply' || call.method === 'followUp') && call.payload?.ephemeral === true;

/** Runs a slash command through the client and waits for the response `until` describes. */
export async function command(
	bot: TestBot,
	init: ConstructorParameters<typeof FakeChatInputInteraction>[0],
	until: (call: RecordedCall) => boolean
): Promise<{ interaction: FakeChatInputInteraction; call: RecordedCall }> {
	const interaction = new FakeChatInputInteraction(init);
	dispatch(bot.client, interaction);
	const call = await interaction.waitFor(until);
	await settled();
	return { interaction, call };
}

/** Presses a button and waits for the response `until` describes. */
export async function press(
	bot: TestBot,
	customId: string,
	user: FakeUser,
	until: (call: RecordedCall) => boolean,
	init: Partial<ConstructorParameters<typeof FakeButtonInteraction>[0]> = {}
): Promise<{ interaction: FakeButtonInteraction; call: RecordedCall }> {
	const interaction = new FakeButtonInteraction({ customId, user, ...init });
	dispatch(bot.client, interaction);
	const call = await interaction.waitFor(until);
	await settled();
	return { interaction, call };
}

/** /imagine as `user`; returns the result's image id and its buttons. */
export async function imagine(
	bot: TestBot,
	user: FakeUser = userA,
	prompt = 'a lighthouse at dusk',
	extra: Record<string, string | number> = {}
) {
	const { interaction, call } = await command(bot, { command: 'imagine', user, options: { prompt, ...extra } }, isResult);
	const buttons = customIdsOf(call.payload);
	const imageId = buttons[0]?.split(':')[3];
	expect(imageId).toMatch(/^[0-9a-z]{16}$/);
	return { interaction, call, imageId: imageId!, buttons };
}

/** Lets the replies of finished jobs go out (a job's last edit follows its result by a few ticks). */
export async function settled(): Promise<void> {
	for (let index = 0; index < 100 && container.imageJobs.running > 0; index++) await new Promise((resolve) => setTimeout(resolve, 10));
	await new Promise((resolve) => setTimeout(resolve, 5));
}
