import type { QuotaStatus } from './QuotaStatus.js';
import type { CreditDay } from './CreditBudgets.js';
import { formatDuration, formatMb } from './units.js';

/** Credits as people read them: up to three decimals, no trailing zeros. */
function formatCredits(credits: number): string {
	return String(Math.round(credits * 1000) / 1000);
}

/**
 * The words of the storage plugin's failures. The defaults name no command of any bot (a bot's commands are its
 * own); a bot passes its own wording, or a translation, as `new SapphireClient({ storage: { messages } })`, and
 * every failure's `message` comes from there. Whatever the wording, a failure's `reason` and data (`status`) stay
 * the same, so a bot may also render its own answer from them.
 */
export interface StorageMessages {
	/** The daily allowance is used up (`pending` of them still running); `resetsInMs` until 00:00 UTC. */
	dailyLimit(status: QuotaStatus, resetsInMs: number): string;
	/** The server's daily total (all its members together) is used up; `resetsInMs` until 00:00 UTC. */
	guildDailyLimit(total: { used: number; limit: number }, resetsInMs: number): string;
	/** One more image would not fit in the user's storage. */
	userQuota(status: QuotaStatus): string;
	/** One more image would not fit under the bot's global cap. */
	globalQuota(status: QuotaStatus): string;
	/** The user is blocked, bot-wide (`guildId` null) or in this server, with the reason and end given (if any). */
	userBlocked(block: { guildId: string | null; reason: string | null; until: Date | null }): string;
	/** The user has as many jobs under way as they may (`maxJobs` generating, `maxQueued` waiting). */
	tooManyJobs(caps: { maxJobs: number; maxQueued: number }): string;
	/**
	 * A server's gate: generation is off there (`off`), works in other channels only (`channelIds`), or is for other
	 * roles (`roleIds`).
	 */
	notHere(gate: { off: boolean; channelIds: readonly string[] | null; roleIds: readonly string[] | null }): string;
	/** Today's credit budget (the bot's, or the user's) has no room for this job. */
	creditBudget(day: CreditDay): string;
	/** The prompt matched a blocklist entry (which is not said: knowing it helps to get around it). */
	promptBlocked: string;
	invalidUser: string;
	invalidImageId: string;
	invalidName: string;
	invalidImage: string;
	notFound: string;
	/** `hint` is empty or a short reason in parentheses, e.g. " (the disk is full)". */
	ioSave(hint: string): string;
	ledgerUnavailable: string;
	diskFull: string;
	ioDelete: string;
	ioRead: string;
}

export const defaultStorageMessages: StorageMessages = {
	dailyLimit: ({ daily }, resetsInMs) =>
		`Daily generation limit reached (${daily.used + daily.pending}/${daily.limit}${daily.pending > 0 ? `, ${daily.pending} still running` : ''}). Resets in ${formatDuration(resetsInMs)}.`,
	guildDailyLimit: ({ used, limit }, resetsInMs) =>
		`This server's daily generation total is reached (${Math.min(used, limit)}/${limit}, all members together). Resets in ${formatDuration(resetsInMs)}.`,
	userQuota: ({ user }) =>
		`Your storage quota is full: ${formatMb(user.usedBytes)} of ${formatMb(user.limitBytes)} MB used. Delete some of your images to make room.`,
	globalQuota: ({ global }) =>
		`The bot's image storage is full (${formatMb(global.usedBytes)} of ${formatMb(global.totalBytes)} MB used). Try again later; the bot owner can free space.`,
	userBlocked: ({ guildId, reason, until }) =>
		`You are blocked from generating images ${guildId ? 'in this server' : 'with this bot'}` +
		`${until ? ` until ${until.toISOString().replace('T', ' ').slice(0, 16)} UTC` : ''}.${reason ? ` Reason: ${reason}` : ''}`,
	tooManyJobs: ({ maxJobs, maxQueued }) =>
		`You have ${maxJobs + maxQueued} image${maxJobs + maxQueued === 1 ? '' : 's'} on the way already, as many as you may ` +
		`(${maxJobs} at a time${maxQueued > 0 ? `, ${maxQueued} waiting` : ''}). Try again when one is done; nothing was charged.`,
	notHere: ({ off, channelIds, roleIds }) =>
		off
			? 'Image generation is turned off in this server by its admins.'
			: channelIds
				? `Image generation works in ${channelIds.map((id) => `<#${id}>`).join(', ')} in this server: use ${channelIds.length === 1 ? 'that channel' : 'one of those'}.`
				: `Image generation in this server is for members with ${(roleIds ?? []).map((id) => `<@&${id}>`).join(' or ')}.`,
	creditBudget: ({ global, user, guild }) => {
		// Whichever budget has least room left is the one that refused.
		const left = (line?: { spent: number; reserved: number; budget: number | null }) =>
			!line || line.budget === null ? Number.POSITIVE_INFINITY : line.budget - line.spent - line.reserved;
		const tightest = Math.min(left(global), left(user), left(guild));
		if (user && left(user) === tightest && tightest < left(global))
			return `Your image credits for today are used up (${formatCredits(user.spent + user.reserved)} of ${formatCredits(user.budget ?? 0)}). They come back at 00:00 UTC; nothing was charged.`;
		if (guild && left(guild) === tightest && tightest < left(global))
			return "This server's image budget for today is used up (all members together). It comes back at 00:00 UTC; nothing was charged.";
		return "The bot's image budget for today is used up. Try again after 00:00 UTC; nothing was charged.";
	},
	promptBlocked: 'That prompt is not allowed here. Nothing was generated or charged.',
	invalidUser: 'That is not a Discord user id.',
	invalidImageId: 'That is not an image id: image ids are 16 letters and digits.',
	invalidName: 'That image name is not allowed: use up to 64 letters, digits, spaces, dots, dashes or underscores.',
	invalidImage: 'That file is not an image this bot can store (PNG, JPEG, WebP or GIF).',
	notFound: 'No image with that id in your gallery.',
	ioSave: (hint) => `The image could not be saved: the server could not write it to storage${hint}. Nothing was stored or charged.`,
	ledgerUnavailable: 'Your quota could not be checked right now, so nothing was started. Try again in a minute.',
	diskFull: "The bot's disk is full, so nothing was started or charged. Try again later.",
	ioDelete: 'The image could not be deleted: the server could not remove it from storage. Try again later.',
	ioRead: 'The image could not be read from storage right now. Try again in a minute.'
};

const MESSAGE_KEYS = Object.keys(defaultStorageMessages) as (keyof StorageMessages)[];

/** Checks a bot's `messages` option: known keys only, each a string or a function as the default is. */
export function isStorageMessages(value: unknown): value is Partial<StorageMessages> {
	if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
	return Object.entries(value).every(
		([key, entry]) =>
			MESSAGE_KEYS.includes(key as keyof StorageMessages) && typeof entry === typeof defaultStorageMessages[key as keyof StorageMessages]
	);
}
