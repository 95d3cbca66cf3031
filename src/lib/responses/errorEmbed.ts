import { randomInt } from 'node:crypto';
import type { EmbedBuilder } from 'discord.js';
import { fittedEmbed } from './fitEmbed.js';
import { Colors } from './theme.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A short reference (6 base-36 characters) that ties what a user sees to the log line with the details. */
export function newErrorReference(): string {
	let reference = '';
	for (let index = 0; index < 6; index++) reference += ALPHABET[randomInt(ALPHABET.length)];
	return reference;
}

/** What a user sees for an unexpected error: no details (they go to the log), just a reference to quote. */
export function buildErrorEmbed(reference: string): EmbedBuilder {
	return fittedEmbed({
		color: Colors.error,
		title: 'Something went wrong',
		description:
			'The bot hit an unexpected error. Nothing was charged for anything that did not finish.\n' +
			`If it keeps happening, tell the bot owner this reference: \`${reference}\`.`,
		footer: { text: `Reference ${reference}` }
	});
}
