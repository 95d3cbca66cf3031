import { AllFlowsPrecondition, type Precondition } from '@sapphire/framework';
import type { ChatInputCommandInteraction, ContextMenuCommandInteraction, Message } from 'discord.js';

/** How long the application's owner (or team) fetched from Discord is trusted. */
const APPLICATION_OWNER_TTL_MS = 10 * 60_000;

/**
 * Admin commands: only the bot's owners pass. Owners are `ClientOptions.owners` (OWNER_IDS); when none are
 * configured, the application's owner from Discord (the user, or every member of the team that owns it).
 * Never throws: if the owner cannot be looked up, the command is refused.
 */
export class OwnerOnlyPrecondition extends AllFlowsPrecondition {
	#applicationOwners: { ids: ReadonlySet<string>; until: number } | null = null;

	public override chatInputRun(interaction: ChatInputCommandInteraction): Precondition.AsyncResult {
		return this.check(interaction.user.id);
	}

	public override contextMenuRun(interaction: ContextMenuCommandInteraction): Precondition.AsyncResult {
		return this.check(interaction.user.id);
	}

	public override messageRun(message: Message): Precondition.AsyncResult {
		return this.check(message.author.id);
	}

	private async check(userId: string): Precondition.AsyncResult {
		const owners = await this.owners().catch((error: unknown) => {
			this.container.logger.error('OwnerOnly could not fetch the application owner', error);
			return null;
		});
		if (owners?.has(userId)) return this.ok();
		return this.error({
			identifier: 'OwnerOnly',
			message: owners
				? "Only the bot's owners can use this command."
				: 'The bot could not check who its owners are right now. Try again in a minute.'
		});
	}

	private async owners(): Promise<ReadonlySet<string>> {
		const configured = this.container.client.options.owners ?? [];
		if (configured.length > 0) return new Set(configured);
		if (this.#applicationOwners && this.#applicationOwners.until > Date.now()) return this.#applicationOwners.ids;
		const application = this.container.client.application;
		if (!application) return new Set();
		const { owner } = await application.fetch();
		const ids = new Set<string>();
		if (owner && 'members' in owner) for (const member of owner.members.values()) ids.add(member.id);
		else if (owner) ids.add(owner.id);
		this.#applicationOwners = { ids, until: Date.now() + APPLICATION_OWNER_TTL_MS };
		return ids;
	}
}

declare module 'discord.js' {
	interface ClientOptions {
		/** User ids of the bot's owners (OWNER_IDS): the only users OwnerOnly lets through. Empty: the application's owner or team. */
		owners?: readonly string[];
	}
}

declare module '@sapphire/framework' {
	interface Preconditions {
		OwnerOnly: never;
	}
}
