import {
	ActionRowBuilder,
	AttachmentBuilder,
	ButtonBuilder,
	ButtonStyle,
	type APIEmbed,
	type APIEmbedField,
	type EmbedBuilder
} from 'discord.js';
import { providerLabel as labelOf, type ProviderSupport, type UnusedInput } from '../../plugins/generation/index.js';
import type { QuotaStatus } from '../../plugins/storage/index.js';
import { resultButtonId, type ResultAction } from '../discord/customIds.js';
import type { FittedImage } from '../images/fitAttachment.js';
import { fittedEmbed } from './fitEmbed.js';
import type { ImageDetails } from './imageDetails.js';
import { quotaFooter } from './quotaBars.js';
import { Colors } from './theme.js';
import { formatBytes, mbToBytes } from '../../plugins/storage/units.js';
import { discordTimestamp, oneLine, styleLabel, userText } from './text.js';

export interface ImageMessageInput {
	details: ImageDetails;
	/** The image as it will be attached (re-encoded when the original is over the limit); null when no copy fits. */
	fitted: FittedImage | null;
	/** Size of the original image in bytes. */
	originalBytes: number;
	/** Who asked for it: the only one the buttons answer. */
	owner: { id: string; name?: string; avatarUrl?: string | null };
	/** The owner's quota after the job, for the footer. */
	status?: QuotaStatus | null;
	/** The interaction's attachment limit; larger images are re-encoded to fit. */
	attachmentLimit: number;
	/** A title in place of the default one (e.g. "From your gallery"). */
	heading?: string;
	/** What the bot's provider can do now: the buttons it cannot serve (OpenAI's Upscale) are left out. Default: everything. */
	supports?: ProviderSupport;
}

export interface ImageMessage {
	embeds: EmbedBuilder[];
	files: AttachmentBuilder[];
	components: ActionRowBuilder<ButtonBuilder>[];
}

const TITLES: Record<ImageDetails['kind'], string> = {
	'text-to-image': 'Imagined',
	'image-to-image': 'Reimagined',
	upscale: 'Upscaled 2×',
	unknown: 'Image'
};

const PREVIEW_NOTE = '**Preview** · an offline placeholder drawn by the bot, not an AI image: no image provider is configured yet.';

const UNUSED_WORDS: Record<UnusedInput, string> = { seed: 'seed', negativePrompt: 'negative prompt', strength: 'strength' };

/**
 * A result: the embed (prompt, style, seed, provider, previews marked as such, a footer like
 * "Today 2/5 · Storage 45.2/500 MB"), the image (re-encoded to fit the upload limit when needed, and the
 * reply says so) and the buttons (Upscale, Re-roll, Vary, Delete) whose ids carry the image id.
 */
export function buildImageMessage(input: ImageMessageInput): ImageMessage {
	const { details, owner, status, attachmentLimit, fitted } = input;

	const description: string[] = [];
	if (details.preview) description.push(PREVIEW_NOTE);
	if (details.prompt) description.push(userText(details.prompt, 3000));
	else if (details.kind === 'upscale') description.push('Upscaled to twice the size.');

	const fields: APIEmbedField[] = [];
	const unused = new Set(details.unusedInputs);
	if (details.negativePrompt) {
		fields.push({ name: unused.has('negativePrompt') ? 'Avoid (not used)' : 'Avoid', value: userText(details.negativePrompt, 1024) });
	}
	if (details.style) fields.push({ name: 'Style', value: styleLabel(details.style), inline: true });
	if (details.seed !== null) fields.push({ name: 'Seed', value: `\`${details.seed}\``, inline: true });
	if (details.strength !== null && details.kind === 'image-to-image') {
		fields.push({ name: 'Strength', value: `${Math.round(details.strength * 100)} %`, inline: true });
	}
	if (details.width !== null && details.height !== null) {
		fields.push({ name: 'Size', value: `${details.width}×${details.height}`, inline: true });
	}
	fields.push({ name: 'Provider', value: providerLabel(details), inline: true });
	// Said plainly, so nobody reuses a seed that meant nothing or wonders why "avoid" was ignored.
	if (unused.size > 0) fields.push({ name: 'Not used', value: unusedNote([...unused], oneLine(providerName(details.provider), 100)) });
	if (details.id) fields.push({ name: 'Image id', value: `\`${details.id}\``, inline: true });
	if (details.createdAt && input.heading) fields.push({ name: 'Created', value: discordTimestamp(details.createdAt, 'f'), inline: true });
	if (fitted?.reencoded) fields.push({ name: 'Compressed for Discord', value: reencodeNote(fitted, attachmentLimit) ?? '' });
	if (!fitted) fields.push({ name: 'Not shown', value: tooLargeNote(input.originalBytes, attachmentLimit) });

	const embed: APIEmbed = {
		color: details.preview ? Colors.preview : Colors.result,
		title: `${details.preview ? 'Preview · ' : ''}${input.heading ?? TITLES[details.kind]}`,
		description: description.join('\n\n'),
		fields,
		author: { name: oneLine(owner.name ?? 'Your image', 256), ...(owner.avatarUrl ? { icon_url: owner.avatarUrl } : {}) },
		...(fitted ? { image: { url: `attachment://${fitted.name}` } } : {}),
		...(status ? { footer: { text: quotaFooter(status) } } : {})
	};

	return {
		embeds: [fittedEmbed(embed)],
		files: fitted ? [new AttachmentBuilder(fitted.data, { name: fitted.name, description: altText(details) })] : [],
		components: details.id ? [resultButtons(owner.id, details, input.supports)] : []
	};
}

/**
 * The row under a result. Re-roll and Vary need a prompt; an upscale is not upscaled again; what the provider
 * cannot do (`supports`) is not offered.
 */
export function resultButtons(
	ownerId: string,
	details: ImageDetails,
	supports: ProviderSupport = { imageToImage: true, upscale: true }
): ActionRowBuilder<ButtonBuilder> {
	const id = details.id!;
	const button = (action: ResultAction, label: string, emoji: string, style = ButtonStyle.Secondary) =>
		new ButtonBuilder()
			.setCustomId(resultButtonId(action, ownerId, id))
			.setLabel(label)
			.setEmoji(emoji)
			.setStyle(style);
	const row = new ActionRowBuilder<ButtonBuilder>();
	if (details.kind !== 'upscale' && supports.upscale) row.addComponents(button('upscale', 'Upscale 2×', '🔍'));
	if (details.prompt) row.addComponents(button('reroll', 'Re-roll', '🎲'));
	if (details.prompt && supports.imageToImage) row.addComponents(button('vary', 'Vary', '🎨'));
	row.addComponents(button('delete', 'Delete', '🗑️', ButtonStyle.Danger));
	return row;
}

/** What replaces a result once its image is deleted. */
export function deletedImageEmbed(imageId: string, freedMb: number): EmbedBuilder {
	return fittedEmbed({
		color: Colors.neutral,
		title: 'Image deleted',
		description: `Image \`${imageId}\` was deleted and ${formatBytes(mbToBytes(freedMb))} freed from your storage.`
	});
}

const FORMAT_NAMES: Record<string, string> = { 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/webp': 'WebP', 'image/gif': 'GIF' };

/** What a reply says about a re-encoded image. */
function reencodeNote(fitted: FittedImage, limitBytes: number): string | null {
	const change = fitted.reencoded;
	if (!change) return null;
	const from = FORMAT_NAMES[change.fromMime] ?? 'original';
	const to = FORMAT_NAMES[change.toMime] ?? 'a smaller file';
	const scaled = change.scaled ? ', at a smaller size' : '';
	return (
		`The original ${from} (${formatBytes(change.fromBytes)}) is over this server's ${formatBytes(limitBytes)} upload limit, ` +
		`so it is shown as ${to} (${formatBytes(change.toBytes)}${scaled}). The original is kept in your gallery.`
	);
}

/** Shown instead of the image when no copy fits the limit. */
function tooLargeNote(bytes: number, limitBytes: number): string {
	return `The image (${formatBytes(bytes)}) cannot be shown here: even compressed, it is over this server's ${formatBytes(limitBytes)} upload limit. It is kept in your gallery.`;
}

function providerLabel(details: ImageDetails): string {
	if (details.preview) return 'Offline preview (not AI)';
	return oneLine([providerName(details.provider), details.model].filter(Boolean).join(' · '), 200);
}

/** "The seed and the negative prompt had no effect: OpenAI does not take them." */
function unusedNote(unused: UnusedInput[], provider: string): string {
	const names = unused.map((input) => `the ${UNUSED_WORDS[input]}`);
	const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] as string);
	return `${list.charAt(0).toUpperCase()}${list.slice(1)} had no effect: ${provider} does not take ${names.length > 1 ? 'them' : 'it'}.`;
}

function providerName(provider: string | null): string {
	if (provider === null) return 'Unknown';
	return labelOf(provider);
}

/** Alt text for screen readers (Discord allows 1024 characters). */
function altText(details: ImageDetails): string {
	const what = details.preview ? 'Offline preview placeholder' : details.kind === 'upscale' ? 'Upscaled image' : 'Generated image';
	return oneLine(details.prompt ? `${what}: ${details.prompt}` : what, 1024);
}
