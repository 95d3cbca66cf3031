import type { EmbedBuilder } from 'discord.js';
import { fittedEmbed } from './fitEmbed.js';
import { Colors } from './theme.js';

/** Someone pressed another user's buttons. */
export function notYours(ownerId: string): EmbedBuilder {
	return fittedEmbed({
		color: Colors.neutral,
		title: 'Not yours',
		description: `These buttons belong to <@${ownerId}>. Make your own image with /imagine.`
	});
}

/** A button of an image that no longer exists. */
export function imageGone(): EmbedBuilder {
	return fittedEmbed({ color: Colors.neutral, title: 'Image deleted', description: 'That image was deleted.' });
}
