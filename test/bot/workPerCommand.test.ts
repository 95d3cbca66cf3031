import { Command, container } from '@sapphire/framework';
import sharp from 'sharp';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AttachmentServer, samplePng } from './helpers/attachmentServer.js';
import { startTestBot, type TestBot } from './helpers/botHarness.js';
import { command, imagine, isResult, userA } from './helpers/flows.js';
import type { RecordedCall } from './helpers/fakeInteractions.js';

/**
 * How much repeated work one command costs: the quota status read from the ledger and the image header parsed
 * by sharp. The counters wrap the real storage and the real sharp, and call through to them.
 */
let bot: TestBot | undefined;
let server: AttachmentServer | undefined;
afterEach(async () => {
	vi.restoreAllMocks();
	await bot?.close();
	await server?.close();
	bot = undefined;
	server = undefined;
});

function countStatusReads() {
	return vi.spyOn(container.storage, 'getQuotaStatus');
}

function countHeaderParses() {
	return vi.spyOn(sharp.prototype, 'metadata');
}

/** A bot's own command behind the storage plugin's three quota preconditions. */
class GuardedCommand extends Command {
	public constructor(context: Command.LoaderContext) {
		super(context, { name: 'guarded', description: 'guarded', preconditions: ['DailyLimit', 'UserStorage', 'GlobalStorage'] });
	}

	public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		await interaction.reply({ content: 'ran' });
	}
}

const ran = (call: RecordedCall) => call.method === 'reply' && call.payload?.content === 'ran';

describe('work done once per command', () => {
	it('the three quota preconditions on one command read the quota status once between them', async () => {
		bot = await startTestBot();
		await container.stores.loadPiece({ store: 'commands', name: 'guarded', piece: GuardedCommand });
		const reads = countStatusReads();
		await command(bot, { command: 'guarded', user: userA }, ran);
		expect(reads).toHaveBeenCalledTimes(1);
		// A second command is a new request: it reads the ledger again rather than trusting the first read.
		await command(bot, { command: 'guarded', user: userA }, ran);
		expect(reads).toHaveBeenCalledTimes(2);
	});

	it('/imagine reads the quota status once: for the footer, after the charge', async () => {
		bot = await startTestBot();
		const reads = countStatusReads();
		await imagine(bot, userA);
		expect(reads).toHaveBeenCalledTimes(1);
	});

	it('/reimagine reads it once before the download (the gate) and once for the footer after the charge', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const image = server.attach('cat.png', await samplePng());
		const reads = countStatusReads();
		await command(bot, { command: 'reimagine', user: userA, options: { image, prompt: 'as a watercolour' } }, isResult);
		expect(reads).toHaveBeenCalledTimes(2);
	});

	it('/imagine parses the generated image header once', async () => {
		bot = await startTestBot();
		const parses = countHeaderParses();
		await imagine(bot, userA);
		expect(parses).toHaveBeenCalledTimes(1);
	});

	it('/reimagine parses the upload once and the generated image once', async () => {
		bot = await startTestBot();
		server = await AttachmentServer.start();
		const image = server.attach('cat.png', await samplePng());
		const parses = countHeaderParses();
		await command(bot, { command: 'reimagine', user: userA, options: { image, prompt: 'as a watercolour' } }, isResult);
		expect(parses).toHaveBeenCalledTimes(2);
	});
});
