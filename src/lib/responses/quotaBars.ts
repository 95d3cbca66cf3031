import type { QuotaStatus } from '../../plugins/storage/index.js';
import { formatMb, mbToBytes } from '../../plugins/storage/units.js';
import { discordTimestamp } from './text.js';

const FULL = '█';
const EMPTY = '░';

/** A text bar, e.g. `██████░░░░░░`, for a fraction from 0 to 1 (a sliver of use always shows one block). */
export function bar(used: number, total: number, width = 12): string {
	const fraction = total > 0 ? Math.min(1, Math.max(0, used / total)) : used > 0 ? 1 : 0;
	let filled = Math.round(fraction * width);
	if (filled === 0 && used > 0) filled = 1;
	return `\`${FULL.repeat(filled)}${EMPTY.repeat(width - filled)}\``;
}

/** "Today 2/5 · Storage 45.2/500 MB": the line under every result. */
export function quotaFooter(status: QuotaStatus): string {
	const { daily, user } = status;
	return `Today ${daily.used + daily.pending}/${daily.limit} · Storage ${formatMb(mbToBytes(user.usedMb))}/${formatMb(mbToBytes(user.limitMb))} MB`;
}

/** Today's allowance: bar, count, what is running, and when it resets. */
export function dailyLine(status: QuotaStatus): string {
	const { used, pending, limit, remaining, resetsAt } = status.daily;
	const running = pending > 0 ? ` (${pending} running)` : '';
	const left = limit === 0 ? 'Generation is off for you.' : `${remaining} left.`;
	return `${bar(used + pending, limit)} **${used + pending}/${limit}**${running}\n${left} Resets ${discordTimestamp(resetsAt, 'R')} (${discordTimestamp(resetsAt, 't')}).`;
}

/** The user's storage: bar, MB used of the limit, percentage and file count. */
export function storageLine(status: QuotaStatus): string {
	const { usedMb, limitMb, percentage, files } = status.user;
	return `${bar(usedMb, limitMb)} **${formatMb(mbToBytes(usedMb))}/${formatMb(mbToBytes(limitMb))} MB** (${percentage} %)\n${files} ${files === 1 ? 'file' : 'files'}.`;
}

/** The bot's shared disk. */
export function globalLine(status: QuotaStatus): string {
	const { usedMb, totalMb, percentage } = status.global;
	return `${bar(usedMb, totalMb)} ${formatMb(mbToBytes(usedMb))}/${formatMb(mbToBytes(totalMb))} MB (${percentage} %)`;
}

/** Where the user's limits come from, in words. */
export function tierLabel(status: QuotaStatus): string {
	const label = sourceLabel(status);
	// The server's daily limit per member is lower than the user's own: say where that one comes from.
	return status.limits.dailyFrom === 'server' ? `${label}; daily limit set by this server` : label;
}

function sourceLabel(status: QuotaStatus): string {
	switch (status.limits.source) {
		case 'owner':
			return 'Owner';
		case 'override':
			return 'Personal limits (set by an owner)';
		case 'tier':
			return `${status.limits.tierName ?? 'Role'} (role tier)`;
		default:
			return 'Standard';
	}
}
