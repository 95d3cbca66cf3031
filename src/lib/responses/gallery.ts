import { container } from '@sapphire/framework';
import { ActionRowBuilder, AttachmentBuilder, ButtonBuilder, ButtonStyle, type EmbedBuilder } from 'discord.js';
import sharp from 'sharp';
import type { StoredImage } from '../../plugins/storage/index.js';
import { galleryPageId } from './customIds.js';
import { fittedEmbed } from './fitEmbed.js';
import { detailsOf } from './imageDetails.js';
import { Colors } from './theme.js';
import { discordTimestamp, formatBytes, formatMbNumber, oneLine } from './text.js';
import { escapeMarkdown } from 'discord.js';

export const GALLERY_COLUMNS = 4;
export const GALLERY_ROWS = 3;
export const GALLERY_PAGE_SIZE = GALLERY_COLUMNS * GALLERY_ROWS;
const CELL = 256;
const LABEL = 28;
const GAP = 8;
const BACKGROUND = { r: 30, g: 31, b: 34, alpha: 1 };

export interface GalleryPage {
	embeds: EmbedBuilder[];
	files: AttachmentBuilder[];
	components: ActionRowBuilder<ButtonBuilder>[];
	page: number;
	pages: number;
}

/**
 * `/images list`: one page of the caller's gallery as a single contact sheet (a 4×3 grid of thumbnails,
 * each labelled with its number and short id), a numbered list with the full ids, and previous/next
 * buttons. `page` is clamped to the pages that exist.
 */
export async function buildGalleryPage(input: {
	ownerId: string;
	ownerName: string;
	images: readonly StoredImage[];
	page: number;
}): Promise<GalleryPage> {
	const { images, ownerId } = input;
	const pages = Math.max(1, Math.ceil(images.length / GALLERY_PAGE_SIZE));
	const page = Math.min(Math.max(0, Math.floor(input.page)), pages - 1);
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

	const shown = images.slice(page * GALLERY_PAGE_SIZE, (page + 1) * GALLERY_PAGE_SIZE);
	const sheet = await renderContactSheet(
		shown.map((image, index) => ({ image, label: `${page * GALLERY_PAGE_SIZE + index + 1} · ${image.id.slice(-6)}` }))
	);
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
		footer: { text: `${images.length} ${images.length === 1 ? 'image' : 'images'} · ${formatMbNumber(totalBytes / (1024 * 1024))} MB` }
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

/** A grid of thumbnails with a label under each; an image that cannot be read becomes a grey cell that says so. */
export async function renderContactSheet(cells: readonly { image: StoredImage; label: string }[]): Promise<Buffer> {
	const columns = Math.min(GALLERY_COLUMNS, Math.max(1, cells.length));
	const rows = Math.max(1, Math.ceil(cells.length / GALLERY_COLUMNS));
	const width = columns * CELL + (columns + 1) * GAP;
	const height = rows * (CELL + LABEL) + (rows + 1) * GAP;
	const layers = await Promise.all(
		cells.map(async (cell, index) => {
			const left = GAP + (index % GALLERY_COLUMNS) * (CELL + GAP);
			const top = GAP + Math.floor(index / GALLERY_COLUMNS) * (CELL + LABEL + GAP);
			return [
				{ input: await thumbnail(cell.image), left, top },
				{ input: Buffer.from(labelSvg(cell.label)), left, top: top + CELL }
			];
		})
	);
	return sharp({ create: { width, height, channels: 4, background: BACKGROUND } })
		.composite(layers.flat())
		.webp({ quality: 80 })
		.toBuffer();
}

/** A cell's thumbnail, read through the storage service; a placeholder when the image is gone or unreadable. */
async function thumbnail(image: StoredImage): Promise<Buffer> {
	try {
		const read = await container.storage.readImage(image.userId, image.id);
		if (!read.ok) throw new Error(read.reason);
		return await sharp(read.data, { limitInputPixels: 100_000_000, animated: false })
			.rotate()
			.resize(CELL, CELL, { fit: 'contain', background: BACKGROUND })
			.png()
			.toBuffer();
	} catch {
		return sharp(Buffer.from(placeholderSvg())).png().toBuffer();
	}
}

function labelSvg(label: string): string {
	return (
		`<svg xmlns="http://www.w3.org/2000/svg" width="${CELL}" height="${LABEL}">` +
		`<text x="${CELL / 2}" y="${LABEL - 8}" font-family="'DejaVu Sans Mono', 'Noto Sans Mono', monospace" font-size="16" fill="#dbdee1" text-anchor="middle">${xml(label)}</text></svg>`
	);
}

function placeholderSvg(): string {
	return (
		`<svg xmlns="http://www.w3.org/2000/svg" width="${CELL}" height="${CELL}"><rect width="100%" height="100%" fill="#4e5058"/>` +
		`<text x="${CELL / 2}" y="${CELL / 2}" font-family="'DejaVu Sans', sans-serif" font-size="18" fill="#dbdee1" text-anchor="middle">unreadable</text></svg>`
	);
}

function xml(text: string): string {
	return text.replace(/[<>&'"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
