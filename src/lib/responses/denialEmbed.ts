import type { APIEmbedField, EmbedBuilder } from 'discord.js';
import type { QuotaStatus } from '../../plugins/storage/index.js';
import { fittedEmbed } from './fitEmbed.js';
import { dailyLine, globalLine, storageLine, tierLabel } from './quotaBars.js';
import { Colors } from './theme.js';
import { discordTimestamp } from './text.js';

export interface Denial {
	/** A precondition identifier or a failure reason: DAILY_LIMIT, USER_QUOTA, GLOBAL_QUOTA, QUOTA_UNAVAILABLE, OwnerOnly... */
	reason: string;
	/** The message written for the user. */
	message: string;
	/** The caller's quota status when the denial is about quota. */
	status?: QuotaStatus | null;
}

const TITLES: Record<string, string> = {
	DAILY_LIMIT: 'Daily limit reached',
	USER_QUOTA: 'Your storage is full',
	GLOBAL_QUOTA: "The bot's storage is full",
	QUOTA_UNAVAILABLE: 'Quota unavailable',
	OwnerOnly: 'Owners only'
};

/**
 * The one denial a user sees, whether a precondition refused the command or the job's atomic
 * reservation refused a button press: the reason, the caller's status, and when it changes.
 */
export function buildDenialEmbed(denial: Denial): EmbedBuilder {
	const fields: APIEmbedField[] = [];
	const { status } = denial;
	if (status) {
		fields.push({ name: 'Today', value: dailyLine(status), inline: false });
		fields.push({ name: 'Your storage', value: storageLine(status), inline: false });
		if (denial.reason === 'GLOBAL_QUOTA') fields.push({ name: 'Bot storage', value: globalLine(status), inline: false });
		fields.push({ name: 'Your tier', value: tierLabel(status), inline: true });
		const when = whenItChanges(denial.reason, status);
		if (when) fields.push({ name: 'When', value: when, inline: true });
	}
	return fittedEmbed({
		color: Colors.denied,
		title: TITLES[denial.reason] ?? 'Not allowed',
		description: denial.message,
		fields
	});
}

function whenItChanges(reason: string, status: QuotaStatus): string | null {
	switch (reason) {
		case 'DAILY_LIMIT':
			return `Resets ${discordTimestamp(status.daily.resetsAt, 'R')}`;
		case 'USER_QUOTA':
			return 'As soon as you free space with /images delete';
		case 'GLOBAL_QUOTA':
			return 'When an owner frees space';
		default:
			return null;
	}
}
