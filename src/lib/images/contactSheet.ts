import { container } from '@sapphire/framework';
import sharp from 'sharp';
import { runImageWork } from '../../plugins/generation/imageWork.js';
import { xmlText } from '../../plugins/shared/xmlText.js';
import type { StoredImage } from '../../plugins/storage/index.js';
import { buildGalleryPage, galleryCells, GALLERY_COLUMNS, type GalleryPage, type GalleryPageInput } from '../responses/gallery.js';

const CELL = 256;
const LABEL = 28;
const GAP = 8;
const BACKGROUND = { r: 30, g: 31, b: 34, alpha: 1 };

/** One page of a user's gallery with its contact sheet drawn: what `/images list` and the page buttons send. */
export async function renderGalleryPage(input: GalleryPageInput): Promise<GalleryPage> {
	const cells = galleryCells(input);
	return buildGalleryPage(input, cells.length > 0 ? await renderContactSheet(cells) : Buffer.alloc(0));
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
	return runImageWork(() =>
		sharp({ create: { width, height, channels: 4, background: BACKGROUND } })
			.composite(layers.flat())
			.webp({ quality: 80 })
			.toBuffer()
	);
}

/** A cell's thumbnail, read through the storage service; a placeholder when the image is gone or unreadable. */
async function thumbnail(image: StoredImage): Promise<Buffer> {
	try {
		const read = await container.storage.readImage(image.userId, image.id);
		if (!read.ok) throw new Error(read.reason);
		return await runImageWork(() =>
			sharp(read.data, { limitInputPixels: 100_000_000, animated: false })
				.rotate()
				.resize(CELL, CELL, { fit: 'contain', background: BACKGROUND })
				.png()
				.toBuffer()
		);
	} catch {
		return runImageWork(() => sharp(Buffer.from(placeholderSvg())).png().toBuffer());
	}
}

function labelSvg(label: string): string {
	return (
		`<svg xmlns="http://www.w3.org/2000/svg" width="${CELL}" height="${LABEL}">` +
		`<text x="${CELL / 2}" y="${LABEL - 8}" font-family="'DejaVu Sans Mono', 'Noto Sans Mono', monospace" font-size="16" fill="#dbdee1" text-anchor="middle">${xmlText(label)}</text></svg>`
	);
}

function placeholderSvg(): string {
	return (
		`<svg xmlns="http://www.w3.org/2000/svg" width="${CELL}" height="${CELL}"><rect width="100%" height="100%" fill="#4e5058"/>` +
		`<text x="${CELL / 2}" y="${CELL / 2}" font-family="'DejaVu Sans', sans-serif" font-size="18" fill="#dbdee1" text-anchor="middle">unreadable</text></svg>`
	);
}
