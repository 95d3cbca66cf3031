import { isImageId, isSnowflake } from '../../plugins/storage/ids.js';

/**
 * Button custom ids. Everything a button needs is in its id (who may press it, which image or page), so
 * buttons keep working after a restart with no state kept in memory. Each id is at most 57 characters,
 * well under Discord's 100.
 */
export const CUSTOM_ID_PREFIX = 'imagine';

export const RESULT_ACTIONS = ['upscale', 'reroll', 'vary', 'delete'] as const;
export type ResultAction = (typeof RESULT_ACTIONS)[number];

export interface ResultButtonTarget {
	action: ResultAction;
	/** The user who asked for the image: the only one whose presses count. */
	ownerId: string;
	imageId: string;
}

/** `imagine:<action>:<ownerId>:<imageId>` */
export function resultButtonId(action: ResultAction, ownerId: string, imageId: string): string {
	return `${CUSTOM_ID_PREFIX}:${action}:${ownerId}:${imageId}`;
}

export function parseResultButtonId(customId: string): ResultButtonTarget | null {
	const [prefix, action, ownerId, imageId, ...rest] = customId.split(':');
	if (prefix !== CUSTOM_ID_PREFIX || rest.length > 0) return null;
	if (!(RESULT_ACTIONS as readonly string[]).includes(action ?? '')) return null;
	if (!isSnowflake(ownerId) || !isImageId(imageId)) return null;
	return { action: action as ResultAction, ownerId, imageId };
}

export interface GalleryPageTarget {
	ownerId: string;
	/** The page to show, from 0. */
	page: number;
}

/**
 * `imagine:page:<ownerId>:<page>:<prev|next>`. The direction keeps the two buttons' ids distinct when
 * both point at the same page (a one-page gallery), which Discord requires.
 */
export function galleryPageId(ownerId: string, page: number, direction: 'prev' | 'next'): string {
	return `${CUSTOM_ID_PREFIX}:page:${ownerId}:${Math.max(0, Math.floor(page))}:${direction}`;
}

export function parseGalleryPageId(customId: string): GalleryPageTarget | null {
	const [prefix, kind, ownerId, page, direction, ...rest] = customId.split(':');
	if (prefix !== CUSTOM_ID_PREFIX || kind !== 'page' || rest.length > 0) return null;
	if (!isSnowflake(ownerId) || !/^\d{1,6}$/.test(page ?? '') || (direction !== 'prev' && direction !== 'next')) return null;
	return { ownerId, page: Number(page) };
}
