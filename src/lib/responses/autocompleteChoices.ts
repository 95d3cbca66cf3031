import type { ApplicationCommandOptionChoiceData } from 'discord.js';
import type { StoredImage } from '../../plugins/storage/index.js';
import { CommandLimits } from '../discord/limits.js';
import { detailsOf } from './imageDetails.js';
import { formatBytes } from '../../plugins/storage/units.js';
import { oneLine, styleLabel } from './text.js';

/** Style presets matching what was typed (by id or by label), at most 25. */
export function styleChoices(styles: readonly string[], typed: string): ApplicationCommandOptionChoiceData<string>[] {
	const query = typed.trim().toLowerCase();
	return styles
		.filter((style) => query === '' || style.includes(query.replace(/\s+/g, '-')) || styleLabel(style).toLowerCase().includes(query))
		.slice(0, CommandLimits.choices)
		.map((style) => ({ name: styleLabel(style), value: style }));
}

/**
 * The caller's own images matching what was typed (id, prompt or date), newest first, at most 25.
 * The name shows the prompt, size and date; the value is the id.
 */
export function imageChoices(images: readonly StoredImage[], typed: string): ApplicationCommandOptionChoiceData<string>[] {
	const query = typed.trim().toLowerCase();
	const choices: ApplicationCommandOptionChoiceData<string>[] = [];
	for (const image of images) {
		const details = detailsOf(image);
		const about = details.prompt ?? (details.kind === 'upscale' ? 'Upscale' : image.name);
		const date = image.createdAt.toISOString().slice(0, 16).replace('T', ' ');
		if (query && !image.id.includes(query) && !about.toLowerCase().includes(query) && !date.includes(query)) continue;
		const suffix = ` · ${formatBytes(image.bytes)} · ${date} · ${image.id.slice(-6)}`;
		choices.push({ name: oneLine(about, CommandLimits.choiceName - suffix.length) + suffix, value: image.id });
		if (choices.length === CommandLimits.choices) break;
	}
	return choices;
}
