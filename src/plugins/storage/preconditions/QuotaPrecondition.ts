import { AllFlowsPrecondition, container, type Precondition } from '@sapphire/framework';
import type { ChatInputCommandInteraction, ContextMenuCommandInteraction, GuildMember, Message } from 'discord.js';
import type { QuotaRule } from '../StorageManager.js';
import type { StorageFailureReason } from '../StorageResult.js';

/** Identifiers the storage preconditions deny with: the failure reasons, plus one for a ledger that cannot be read. */
export const QuotaIdentifiers = {
	DailyLimit: 'DAILY_LIMIT',
	UserStorage: 'USER_QUOTA',
	GlobalStorage: 'GLOBAL_QUOTA',
	Unavailable: 'QUOTA_UNAVAILABLE'
} as const satisfies Record<string, StorageFailureReason | 'QUOTA_UNAVAILABLE'>;

type MemberLike = GuildMember | { roles: string[] } | null | undefined;

/**
 * The shared body of DailyLimit, UserStorage and GlobalStorage: read the caller's quota status and deny
 * with a message a user understands and the status in `context`, so a bot can render it. A precondition
 * that throws escapes as an error rather than a denial, so every failure here becomes a denial.
 */
export abstract class QuotaPrecondition extends AllFlowsPrecondition {
	protected abstract readonly rule: QuotaRule;

	public override chatInputRun(interaction: ChatInputCommandInteraction): Precondition.AsyncResult {
		return this.check(interaction.user.id, interaction.member as MemberLike, interaction);
	}

	public override contextMenuRun(interaction: ContextMenuCommandInteraction): Precondition.AsyncResult {
		return this.check(interaction.user.id, interaction.member as MemberLike, interaction);
	}

	public override messageRun(message: Message): Precondition.AsyncResult {
		return this.check(message.author.id, message.member, message);
	}

	/** `request`: the interaction or message; the quota preconditions on one command share one status read. */
	protected async check(userId: string, member: MemberLike, request: object): Precondition.AsyncResult {
		try {
			const result = await container.storage.checkQuota(userId, this.rule, { roleIds: roleIdsOf(member), request });
			if (result.ok) return this.ok();
			return this.error({ identifier: result.reason, message: result.message, context: { reason: result.reason, status: result.status } });
		} catch (error) {
			container.logger.error(`${this.name} precondition could not read the quota ledger`, error);
			return this.error({
				identifier: QuotaIdentifiers.Unavailable,
				message: 'Your quota could not be checked right now, so nothing was started. Try again in a minute.',
				context: { reason: QuotaIdentifiers.Unavailable }
			});
		}
	}
}

/** Role ids of a guild member, whether discord.js resolved it (GuildMember) or not (raw API member). */
export function roleIdsOf(member: MemberLike): string[] {
	if (!member) return [];
	if (Array.isArray(member.roles)) return member.roles;
	return [...(member as GuildMember).roles.cache.keys()];
}
