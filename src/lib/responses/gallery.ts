import { ActionRowBuilder, AttachmentBuilder, ButtonBuilder, ButtonStyle, type EmbedBuilder } from 'discord.js';
import type { StoredImage } from '../../plugins/storage/index.js';
import { galleryPageId } from '../discord/customIds.js';
import { fittedEmbed } from './fitEmbed.js';
import { detailsOf } from './imageDetails.js';
import { Colors } from './theme.js';
import { formatBytes, formatMb } from '../../plugins/storage/units.js';
import { discordTimestamp, oneLine } from './text.js';
import { escapeMarkdown } from 'discord.js';

export const GALLERY_COLUMNS = 4;
export const GALLERY_ROWS = 3;
export const GALLERY_PAGE_SIZE = GALLERY_COLUMNS * GALLERY_ROWS;

export interface GalleryPageInput {
	ownerId: string;
	ownerName: string;
	images: readonly StoredImage[];
	page: number;
}

export interface GalleryPage {
	embeds: EmbedBuilder[];
	files: AttachmentBuilder[];
	components: ActionRowBuilder<ButtonBuilder>[];
	page: number;
	pages: number;
}

/** The page that exists nearest to the one asked for. */
export function clampPage(images: readonly unknown[], page: number): number {
	const pages = Math.max(1, Math.ceil(images.length / GALLERY_PAGE_SIZE));
	return Math.min(Math.max(0, Math.floor(page)), pages - 1);
}

/** The images shown on one page, each with the label drawn under its thumbnail (its number and short id). */
export function galleryCells(input: Pick<GalleryPageInput, 'images' | 'page'>): { image: StoredImage; label: string }[] {
	const page = clampPage(input.images, input.page);
	return input.images
		.slice(page * GALLERY_PAGE_SIZE, (page + 1) * GALLERY_PAGE_SIZE)
		.map((image, index) => ({ image, label: `${page * GALLERY_PAGE_SIZE + index + 1} · ${image.id.slice(-6)}` }));
}

/**
 * `/images list`: one page of the caller's gallery as a single contact sheet (a 4×3 grid of thumbnails,
 * each labelled with its number and short id), a numbered list with the full ids, and previous/next
 * buttons. `page` is clamped to the pages that exist; `sheet` is the page's rendered contact sheet.
 */
export function buildGalleryPage(input: GalleryPageInput, sheet: Buffer): GalleryPage {
	const { images, ownerId } = input;
	const pages = Math.max(1, Math.ceil(images.length / GALLERY_PAGE_SIZE));
	const page = clampPage(images, input.page);
	if (images.length === 0) {
		return {
			embeds: [
				fittedEmbed({
					color: Colors.neutral,
					title: 'Your gallery is empty',
					description: 'Create an image with /imagine: every result is kept here until you delete it.'
				})
			],
			files: [],
			components: [],
			page: 0,
			pages: 1
		};
	}

	const shown = galleryCells(input).map((cell) => cell.image);
	const name = `gallery-${page + 1}.webp`;
	const totalBytes = images.reduce((sum, image) => sum + image.bytes, 0);
	const lines = shown.map((image, index) => {
		const details = detailsOf(image);
		const about = details.prompt ? escapeMarkdown(oneLine(details.prompt, 60)) : details.kind === 'upscale' ? '_upscale_' : '_image_';
		return `**${page * GALLERY_PAGE_SIZE + index + 1}.** \`${image.id}\` ${about} · ${formatBytes(image.bytes)} · ${discordTimestamp(image.createdAt, 'R')}`;
	});

	const embed = fittedEmbed({
		color: Colors.result,
		title: `${oneLine(input.ownerName, 200)}'s images · page ${page + 1}/${pages}`,
		description: `${lines.join('\n')}\n\nOpen one with \`/images show\`, remove one with \`/images delete\`.`,
		image: { url: `attachment://${name}` },
		footer: { text: `${images.length} ${images.length === 1 ? 'image' : 'images'} · ${formatMb(totalBytes)} MB` }
	});
	const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
		new ButtonBuilder()
			.setCustomId(galleryPageId(ownerId, page - 1, 'prev'))
			.setLabel('Previous')
			.setEmoji('◀️')
			.setStyle(ButtonStyle.Secondary)
			.setDisabled(page === 0),
		new ButtonBuilder()
			.setCustomId(galleryPageId(ownerId, page + 1, 'next'))
			.setLabel('Next')
			.setEmoji('▶️')
			.setStyle(ButtonStyle.Secondary)
			.setDisabled(page >= pages - 1)
	);
	return {
		embeds: [embed],
		files: [
			new AttachmentBuilder(sheet, {
				name,
				description: `Thumbnails of images ${page * GALLERY_PAGE_SIZE + 1} to ${page * GALLERY_PAGE_SIZE + shown.length}`
			})
		],
		components: [row],
		page,
		pages
	};
}
