// A stranger's bot. It knows sapphire-imagine only by its published entry points: nothing here imports
// from this repository's src/ (vitest maps the package names to the sources, as package.json "exports"
// map them to dist/ for an installed copy).
import 'sapphire-imagine/storage/register';
import 'sapphire-imagine/generation/register';
import {
	Command,
	container,
	Events,
	Listener,
	SapphireClient,
	type ChatInputCommandDeniedPayload,
	type UserError
} from '@sapphire/framework';
import { GatewayIntentBits, MessageFlags } from 'discord.js';

export class PaintCommand extends Command {
	public constructor(context: Command.LoaderContext) {
		super(context, { name: 'paint', description: 'Paint something', preconditions: ['DailyLimit', 'UserStorage', 'GlobalStorage'] });
	}

	public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
		await interaction.deferReply();
		const result = await container.imageJobs.run({
			kind: 'text-to-image',
			userId: interaction.user.id,
			request: { prompt: interaction.options.getString('prompt', true) }
		});
		await interaction.editReply(result.ok ? `Painted ${result.stored?.id}` : result.message);
	}
}

/** Sapphire ships no answer to a denial: this bot answers with the precondition's message. */
export class PaintDeniedListener extends Listener<typeof Events.ChatInputCommandDenied> {
	public constructor(context: Listener.LoaderContext) {
		super(context, { event: Events.ChatInputCommandDenied });
	}

	public override async run(error: UserError, { interaction }: ChatInputCommandDeniedPayload) {
		await interaction.reply({ content: error.message, flags: MessageFlags.Ephemeral });
	}
}

export function createPaintBot(storageRoot: string, storage: Record<string, unknown> = {}) {
	const client = new SapphireClient({
		intents: [GatewayIntentBits.Guilds],
		baseUserDirectory: null,
		storage: { storageRoot, cleanupIntervalMinutes: 0, ...storage },
		generation: { provider: 'preview' }
	});
	// In a real bot these would sit in commands/ and listeners/; here they are handed over directly.
	void container.stores.loadPiece({ store: 'commands', name: 'paint', piece: PaintCommand });
	void container.stores.loadPiece({ store: 'listeners', name: 'paintDenied', piece: PaintDeniedListener });
	return client;
}
