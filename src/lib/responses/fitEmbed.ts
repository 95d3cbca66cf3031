import { EmbedBuilder, type APIEmbed, type APIEmbedField } from 'discord.js';
import { EmbedLimits } from '../discord/limits.js';
import { truncate } from '../../plugins/shared/truncate.js';

/** Discord refuses an empty field name or value: a zero-width space stands in. */
const BLANK = '\u200b';

/**
 * Makes any embed sendable: every text cut to its limit (title 256, description 4096, field name 256 and
 * value 1024, footer 2048, author 256), at most 25 fields, no empty field, and at most `total` characters
 * in all (6000 per message). When the total is over, the description gives way first, then the field
 * values from the last, then whole fields. No input can make a send fail on length.
 */
export function fitEmbed(data: APIEmbed, total: number = EmbedLimits.total): APIEmbed {
	const embed: APIEmbed = { ...data };
	if (embed.title !== undefined) embed.title = truncate(embed.title, EmbedLimits.title);
	if (embed.description !== undefined) embed.description = truncate(embed.description, EmbedLimits.description);
	if (embed.author) embed.author = { ...embed.author, name: truncate(embed.author.name, EmbedLimits.authorName) || BLANK };
	if (embed.footer) embed.footer = { ...embed.footer, text: truncate(embed.footer.text, EmbedLimits.footerText) || BLANK };
	if (embed.fields) {
		embed.fields = embed.fields.slice(0, EmbedLimits.fields).map((field): APIEmbedField => ({
			...field,
			name: truncate(field.name, EmbedLimits.fieldName) || BLANK,
			value: truncate(field.value, EmbedLimits.fieldValue) || BLANK
		}));
	}

	let over = embedLength(embed) - total;
	if (over <= 0) return embed;
	if (embed.description) {
		const keep = Math.max(0, embed.description.length - over);
		embed.description = keep > 0 ? truncate(embed.description, keep) : undefined;
		over = embedLength(embed) - total;
	}
	const fields = embed.fields ?? [];
	for (let index = fields.length - 1; index >= 0 && over > 0; index--) {
		const field = fields[index]!;
		const keep = Math.max(1, field.value.length - over);
		fields[index] = { ...field, value: truncate(field.value, keep) || BLANK };
		over = embedLength(embed) - total;
	}
	while (over > 0 && fields.length > 0) {
		fields.pop();
		over = embedLength(embed) - total;
	}
	if (over > 0 && embed.footer)
		embed.footer = { ...embed.footer, text: truncate(embed.footer.text, Math.max(1, embed.footer.text.length - over)) };
	return embed;
}

/** Characters Discord counts toward the 6000 of a message. */
export function embedLength(embed: APIEmbed): number {
	let length = (embed.title?.length ?? 0) + (embed.description?.length ?? 0);
	length += (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
	for (const field of embed.fields ?? []) length += field.name.length + field.value.length;
	return length;
}

/** An EmbedBuilder from data that has been fitted first, so a builder's own validation can never throw on length. */
export function fittedEmbed(data: APIEmbed, total?: number): EmbedBuilder {
	return new EmbedBuilder(fitEmbed(data, total));
}
