import { join } from 'node:path';
import { container, Events, PluginHook, SapphireClient, type UserError } from '@sapphire/framework';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, pngBytes } from '../../helpers/storageFixtures.js';
import { dispatch, restoreFrameworkPieces, startTestBot, type TestBot } from '../helpers/botHarness.js';
import { FakeChatInputInteraction } from '../helpers/fakeInteractions.js';
import { isPrivate, USER_A, USER_B, userA } from '../helpers/flows.js';
import { createPaintBot } from './paintBot.js';

/** What the user got: the job's result, or a private denial and its text. */
type Outcome = { result: 'allowed' } | { result: 'denied'; message: string };

interface Scenario {
	name: string;
	storage: Record<string, unknown>;
	/** What is already on the bot when the user asks. */
	before?: () => Promise<void>;
	/** How many times the user asks. */
	asks: number;
	/** What each ask gets: allowed, or the denial's reason (the precondition's identifier in the stranger's bot). */
	expected: string[];
}

const scenarios: Scenario[] = [
	{ name: 'a fresh user', storage: {}, asks: 1, expected: ['allowed'] },
	{ name: 'a user at the daily limit', storage: { maxUserDailyGens: 1 }, asks: 2, expected: ['allowed', 'DAILY_LIMIT'] },
	{
		name: 'a user whose storage is full',
		storage: { maxUserStorageMb: 1, estimatedImageMb: 0.5 },
		before: () => save(USER_A, false),
		asks: 1,
		expected: ['USER_QUOTA']
	},
	{
		name: 'a bot whose storage is full',
		storage: { maxGlobalStorageMb: 1, estimatedImageMb: 0.5 },
		before: () => save(USER_B, true),
		asks: 1,
		expected: ['GLOBAL_QUOTA']
	},
	{ name: 'generation turned off', storage: { maxUserDailyGens: 0 }, asks: 1, expected: ['DAILY_LIMIT'] }
];

async function save(userId: string, temp: boolean) {
	const saved = await container.storage.saveImage({ data: pngBytes(800 * 1024), userId, temp });
	expect(saved.ok).toBe(true);
}

/**
 * Runs one slash command and reports what the user got: a private answer is a denial (the stranger's bot
 * answers its preconditions' denials with their message; ours answers the reservation's with an embed);
 * otherwise the edit that carries the result once the job is done. `reasons` collects why each ask was
 * refused: the precondition's identifier, or the reason our denial embed is titled with.
 */
async function ask(client: SapphireClient, commandName: string, reasons: string[]): Promise<Outcome> {
	const interaction = new FakeChatInputInteraction({ command: commandName, user: userA, options: { prompt: 'a lighthouse' } });
	let identifier: string | null = null;
	const onDenied = (error: UserError) => void (identifier = error.identifier);
	client.on(Events.ChatInputCommandDenied, onDenied);
	dispatch(client, interaction);
	// The result: our reply's edit with the image, or the stranger's "Painted <id>".
	const answer = await interaction.waitFor(
		(call) =>
			isPrivate(call) ||
			(call.method === 'editReply' && ((call.payload?.files.length ?? 0) > 0 || (call.payload?.content ?? '').startsWith('Painted')))
	);
	client.off(Events.ChatInputCommandDenied, onDenied);
	if (!isPrivate(answer)) {
		reasons.push('allowed');
		return { result: 'allowed' };
	}
	const embed = answer.payload?.embeds[0];
	reasons.push(identifier ?? REASON_OF_TITLE[embed?.title ?? ''] ?? `untitled: ${embed?.title}`);
	return { result: 'denied', message: answer.payload?.content || embed?.description || '' };
}

/** The titles of our denial embeds, back to their reasons. */
const REASON_OF_TITLE: Record<string, string> = {
	'Daily limit reached': 'DAILY_LIMIT',
	'Your storage is full': 'USER_QUOTA',
	"The bot's storage is full": 'GLOBAL_QUOTA'
};

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const close of closers.reverse()) await close();
	closers = [];
});

/** The stranger's bot brought up as `login()` would, without the gateway. */
async function startPaintBot(storage: Record<string, unknown>) {
	const temp = await makeTempDir('imagine-dropin-');
	const client = createPaintBot(join(temp.dir, 'root'), storage);
	for (const plugin of SapphireClient.plugins.values(PluginHook.PreLogin)) await plugin.hook.call(client, client.options);
	await Promise.all([...client.stores.values()].map((store) => store.loadAll()));
	await restoreFrameworkPieces();
	closers.push(async () => {
		await container.imageJobs.drain(5000);
		await container.storage.close();
		await client.destroy();
		await temp.cleanup();
	});
	return client;
}

async function outcomesOf(
	start: () => Promise<SapphireClient>,
	commandName: string,
	scenario: Scenario
): Promise<{ outcomes: Outcome[]; reasons: string[] }> {
	const client = await start();
	await scenario.before?.();
	const outcomes: Outcome[] = [];
	const reasons: string[] = [];
	for (let index = 0; index < scenario.asks; index++) outcomes.push(await ask(client, commandName, reasons));
	for (const close of closers.splice(0).reverse()) await close();
	return { outcomes, reasons };
}

describe('drop-in: a stranger’s bot using only the published register entries', () => {
	it('registers each plugin once, through its register entry', async () => {
		await startTestBot({ withoutBotPieces: true }).then((bot: TestBot) => closers.push(bot.close));
		const names = [...SapphireClient.plugins.registry].map((plugin) => plugin.name);
		expect(names.filter((name) => name === 'Storage-PreLogin')).toHaveLength(1);
		expect(names.filter((name) => name === 'Generation-PostInitialization')).toHaveLength(1);
	});

	for (const scenario of scenarios) {
		it(`is allowed and denied exactly as our /imagine: ${scenario.name}`, async () => {
			const theirs = await outcomesOf(() => startPaintBot(scenario.storage), 'paint', scenario);
			const ours = await outcomesOf(
				async () => {
					const bot = await startTestBot({ storage: scenario.storage });
					closers.push(bot.close);
					return bot.client;
				},
				'imagine',
				scenario
			);
			// The same denial with the same figures; what to do about it is each bot's own wording (ours names its
			// commands, the plugin's defaults name none), so only the first sentence is compared.
			const normalise = (outcomes: Outcome[]) =>
				outcomes.map((outcome) => (outcome.result === 'denied' ? { ...outcome, message: outcome.message.split('. ')[0] } : outcome));
			expect(normalise(theirs.outcomes)).toEqual(normalise(ours.outcomes));
			expect(theirs.reasons).toEqual(scenario.expected);
			expect(ours.reasons).toEqual(scenario.expected);
		});
	}

	it('the stranger’s bot gets a real image through the guarded job', async () => {
		const client = await startPaintBot({});
		const interaction = new FakeChatInputInteraction({ command: 'paint', user: userA, options: { prompt: 'a lighthouse' } });
		dispatch(client, interaction);
		const done = await interaction.waitFor((call) => call.method === 'editReply');
		expect(done.payload!.content).toMatch(/^Painted [0-9a-z]{16}$/);
		expect((await container.storage.getQuotaStatus(USER_A)).daily.used).toBe(1);
		// The package name and our own relative imports reach the same module: one container, one class.
		expect(container.storage).toBeInstanceOf(StorageManager);
	});
});
