import { escapeMarkdown } from 'discord.js';
import { truncate } from '../../plugins/shared/truncate.js';

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

/** "analog-film" -> "Analog film". */
export function styleLabel(style: string): string {
	const words = style.replace(/-/g, ' ');
	return words.charAt(0).toUpperCase() + words.slice(1);
}
