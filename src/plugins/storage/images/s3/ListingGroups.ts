import type { ImageExtension } from '../../ids.js';
import { layoutOf } from '../records.js';

/** One object of a listing, its key relative to the store's prefix. */
export interface ListedObject {
	relative: string;
	size: number;
	modifiedAt: number;
}

/** The objects of one image id in one folder: its image file(s) and its sidecar. */
export interface ObjectGroup {
	folder: string;
	folderUserId: string | null;
	imageId: string;
	images: (ListedObject & { ext: ImageExtension })[];
	sidecar: ListedObject | null;
}

/**
 * Gathers a listing into groups, one per image id and folder, without holding the whole listing: S3 lists keys in
 * ascending order, and every key of a group starts with `<folder>/<imageId>.`, so a group is complete as soon as a
 * key outside it arrives. Objects outside the layout are handed back at once as `stray`.
 */
export class ListingGroups {
	#current: ObjectGroup | null = null;

	/** Adds one object; returns the group it completed, if any, and the object itself when it is not ours. */
	public add(object: ListedObject): { completed: ObjectGroup | null; stray: ListedObject | null } {
		const file = layoutOf(object.relative);
		if (!file) return { completed: null, stray: object };
		const current = this.#current;
		let completed: ObjectGroup | null = null;
		if (!current || current.folder !== file.folder || current.imageId !== file.imageId) {
			completed = current;
			this.#current = { folder: file.folder, folderUserId: file.folderUserId, imageId: file.imageId, images: [], sidecar: null };
		}
		const group = this.#current as ObjectGroup;
		if (file.kind === 'image') group.images.push({ ...object, ext: file.ext as ImageExtension });
		else group.sidecar = object;
		return { completed, stray: null };
	}

	/** The last group, at the end of the listing. */
	public finish(): ObjectGroup | null {
		const last = this.#current;
		this.#current = null;
		return last;
	}
}
