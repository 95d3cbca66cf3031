import { escapeMarkdown } from 'discord.js';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Cuts `text` to at most `max` UTF-16 code units, ending with an ellipsis when cut. It cuts between
 * graphemes, so an emoji sequence or a letter with its accents is never split, and it never leaves a
 * lone backslash from an escaped character at the end.
 */
export function truncate(text: string, max: number, ellipsis = '…'): string {
	if (text.length <= max) return text;
	if (max <= ellipsis.length) return ellipsis.slice(0, Math.max(0, max));
	const budget = max - ellipsis.length;
	let kept = '';
	for (const { segment } of graphemes.segment(text)) {
		if (kept.length + segment.length > budget) break;
		kept += segment;
	}
	const trailingBackslashes = /\\+$/.exec(kept)?.[0].length ?? 0;
	if (trailingBackslashes % 2 === 1) kept = kept.slice(0, -1);
	return kept + ellipsis;
}

/**
 * User text shown as text: markdown escaped, line breaks kept, cut to `max`. It is cut before escaping too:
 * escaping costs time that grows fast with length, and only what is shown needs it.
 */
export function userText(text: string, max: number): string {
	return truncate(escapeMarkdown(truncate(text, max)), max);
}

/** User text on one line (labels, field names, autocomplete choices). */
export function oneLine(text: string, max: number): string {
	return truncate(text.replace(/\s+/g, ' ').trim(), max);
}

/** A Discord timestamp: `R` relative ("in 3 hours"), `t` time, `f` date and time; shown in each reader's own zone. */
export function discordTimestamp(date: Date | number, style: 'R' | 't' | 'f' | 'd' = 'R'): string {
	const ms = typeof date === 'number' ? date : date.getTime();
	return `<t:${Math.floor(ms / 1000)}:${style}>`;
}

/** Bytes as "1.4 MB" (mebibytes, the unit Discord's limits use). */
export function formatBytes(bytes: number): string {
	const mb = bytes / (1024 * 1024);
	if (mb >= 1000) return `${Math.round(mb)} MB`;
	if (mb >= 0.1) return `${Math.round(mb * 10) / 10} MB`;
	return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** Megabytes as "45.2" (one decimal below 1000). */
export function formatMbNumber(mb: number): string {
	if (mb >= 1000) return Math.round(mb).toString();
	return (Math.round(mb * 10) / 10).toString();
}

/** "analog-film" -> "Analog film". */
export function styleLabel(style: string): string {
	const words = style.replace(/-/g, ' ');
	return words.charAt(0).toUpperCase() + words.slice(1);
}
