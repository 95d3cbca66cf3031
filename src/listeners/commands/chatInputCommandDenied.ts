import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type ChatInputCommandDeniedPayload, type UserError } from '@sapphire/framework';
import type { QuotaStatus } from '../../plugins/storage/index.js';
import { buildDenialEmbed } from '../../lib/responses/denialEmbed.js';
import { replyPrivately } from '../../lib/discord/privateReply.js';

/**
 * Sapphire ships no answer to a denied command: this one tells the caller why, privately, with their
 * status and when it resets (the quota preconditions put the status in the denial's context).
 */
@ApplyOptions<Listener.Options>({ event: Events.ChatInputCommandDenied })
export class ChatInputCommandDeniedListener extends Listener<typeof Events.ChatInputCommandDenied> {
	public override async run(error: UserError, { interaction }: ChatInputCommandDeniedPayload) {
		const context = (error.context ?? {}) as { silent?: boolean; status?: QuotaStatus };
		if (context.silent) return;
		await replyPrivately(interaction, [
			buildDenialEmbed({ reason: error.identifier, message: error.message, status: context.status ?? null })
		]);
	}
}
