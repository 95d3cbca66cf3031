import { EmbedBuilder, type APIEmbed } from 'discord.js';
import { expect } from 'vitest';
import type { RecordedPayload } from './fakeInteractions.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Discord's embed limits, checked by hand and again by discord.js's own validators. */
export function expectEmbedWithinLimits(embed: APIEmbed): void {
	const texts = [
		embed.title,
		embed.description,
		embed.footer?.text,
		embed.author?.name,
		...(embed.fields ?? []).flatMap((field) => [field.name, field.value])
	];
	expect(embed.title?.length ?? 0).toBeLessThanOrEqual(256);
	expect(embed.description?.length ?? 0).toBeLessThanOrEqual(4096);
	expect(embed.fields?.length ?? 0).toBeLessThanOrEqual(25);
	for (const field of embed.fields ?? []) {
		expect(field.name.length).toBeGreaterThan(0);
		expect(field.name.length).toBeLessThanOrEqual(256);
		expect(field.value.length).toBeGreaterThan(0);
		expect(field.value.length).toBeLessThanOrEqual(1024);
	}
	expect(embed.footer?.text.length ?? 0).toBeLessThanOrEqual(2048);
	expect(embed.author?.name.length ?? 0).toBeLessThanOrEqual(256);
	const total = texts.reduce((sum, text) => sum + (text?.length ?? 0), 0);
	expect(total).toBeLessThanOrEqual(6000);
	for (const text of texts) if (text) expect(LONE_SURROGATE.test(text), `lone surrogate in ${text.slice(0, 40)}`).toBe(false);

	// discord.js validates on its setters: rebuilding the embed through them throws on any length Discord refuses.
	const rebuilt = new EmbedBuilder();
	if (embed.title !== undefined) rebuilt.setTitle(embed.title);
	if (embed.description !== undefined) rebuilt.setDescription(embed.description);
	if (embed.fields?.length) rebuilt.addFields(embed.fields);
	if (embed.footer) rebuilt.setFooter({ text: embed.footer.text });
	if (embed.author) rebuilt.setAuthor({ name: embed.author.name });
	if (embed.color !== undefined) rebuilt.setColor(embed.color);
}

/** A whole message: at most 10 embeds, 6000 characters across them, content of 2000, custom ids of 100. */
export function expectMessageWithinLimits(payload: Pick<RecordedPayload, 'embeds' | 'components'> & { content?: string | null }): void {
	expect(payload.embeds.length).toBeLessThanOrEqual(10);
	let total = 0;
	for (const embed of payload.embeds) {
		expectEmbedWithinLimits(embed);
		total += [
			embed.title,
			embed.description,
			embed.footer?.text,
			embed.author?.name,
			...(embed.fields ?? []).flatMap((field) => [field.name, field.value])
		].reduce((sum, text) => sum + (text?.length ?? 0), 0);
	}
	expect(total).toBeLessThanOrEqual(6000);
	expect(payload.content?.length ?? 0).toBeLessThanOrEqual(2000);
	expect(payload.components.length).toBeLessThanOrEqual(5);
	const ids: string[] = [];
	for (const row of payload.components) {
		expect(row.components.length).toBeLessThanOrEqual(5);
		for (const component of row.components) {
			expect(component.custom_id?.length ?? 0).toBeLessThanOrEqual(100);
			expect(component.label?.length ?? 0).toBeLessThanOrEqual(80);
			if (component.custom_id) ids.push(component.custom_id);
		}
	}
	expect(new Set(ids).size).toBe(ids.length);
}

const FAMILY = '👩‍👩‍👧‍👦';
const RTL = 'مرحبا بالعالم שלום עולם ';
const MARKDOWN = '**bold** _it_ `code` ~~x~~ ||spoiler|| > quote \\ ';
const COMBINING = 'Z̴̡̢̛a̷̧̛l̶̢g̵̛o̴̧ ';

/** Inputs that break naive truncation: 2000-character prompts of emoji, right-to-left text, markdown, combining marks. */
export const EXTREME_TEXTS: Record<string, string> = {
	'2000 ASCII characters': 'a lighthouse at dusk, '.repeat(100).slice(0, 2000),
	'2000 emoji graphemes': FAMILY.repeat(2000),
	'right-to-left text': RTL.repeat(120).slice(0, 2000),
	markdown: MARKDOWN.repeat(50).slice(0, 2000),
	'combining marks': COMBINING.repeat(200).slice(0, 2000),
	mixed: `${FAMILY}${RTL}${MARKDOWN}${COMBINING}`.repeat(40),
	'one character': 'x'
};
