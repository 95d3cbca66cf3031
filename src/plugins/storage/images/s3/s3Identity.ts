import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageConfigError } from '../../StorageConfigError.js';
import { IDENTITY_SHAPE, newStoreId, parseIdentity, serializeIdentity } from '../records.js';
import { isConditionRefused, isNotFound } from './s3Errors.js';
import { readBody } from './readBody.js';

/**
 * On a server that ignores `If-None-Match` (s3rver, older S3-compatible servers), how long a new marker may still be
 * overwritten: longer than a process that also found no marker takes to write its own. A marker is trusted once it
 * is older than this; paid only in the first seconds of a store's life.
 */
export const IDENTITY_SETTLE_MS = 1500;
const MAX_MARKER_BYTES = 4096;

interface MarkerLocation {
	client: S3Client;
	bucket: string;
	key: string;
	/** `s3://bucket/key`, for messages. */
	address: string;
}

/**
 * A store's identity marker (`<prefix>/.imagine-store`), created once. Two processes creating it at the same time
 * must end up with the same id, or the second would be refused by the ledger the first claimed:
 *
 * - The marker is written with `If-None-Match: *`. AWS S3, Cloudflare R2 and MinIO refuse it (412) when the object
 *   exists, so exactly one write wins and the others read the winner's id.
 * - Whether the server honoured the condition is then asked by writing the same bytes again with the same condition:
 *   a server that honours it refuses (the marker exists now), and the first write is known to be the only one.
 * - A server that accepts the second write ignores conditions (s3rver does: it applies `If-None-Match` to reads
 *   only), so the last write wins. Every process, creator or reader, then trusts a marker only once it is older than
 *   `IDENTITY_SETTLE_MS` (by the time it holds and by the server's Last-Modified): a younger one is read again after
 *   that, until it no longer changes.
 */
export async function readOrCreateS3Identity(location: MarkerLocation): Promise<string> {
	const existing = await readSettledMarker(location);
	if (existing) return existing;
	const id = newStoreId();
	const body = serializeIdentity(id, new Date());
	if ((await putIfAbsent(location, body)) && !(await putIfAbsent(location, body))) return id;
	const winner = await readSettledMarker(location);
	if (!winner) throw new Error(`${location.address} was written but cannot be read back`);
	return winner;
}

/**
 * The marker's id once it is old enough that no concurrent creator can still replace it; null when there is none.
 * A young marker that does not parse is one being written on a server that shows an object while it is written
 * (s3rver): it is read again once settled, and only a settled one that does not parse is damaged.
 */
async function readSettledMarker(location: MarkerLocation): Promise<string | null> {
	for (;;) {
		const marker = await readMarker(location);
		if (!marker) return null;
		const now = Date.now();
		const age = Math.min(now - (marker.createdAt ?? 0), now - marker.lastModified);
		if (age >= IDENTITY_SETTLE_MS) {
			if (marker.id !== null) return marker.id;
			throw new StorageConfigError(
				`${location.address} is damaged: it should hold ${IDENTITY_SHAPE}. Restore it, or delete it if this store is new.`
			);
		}
		await sleep(IDENTITY_SETTLE_MS - age);
	}
}

/** True when written; false when the server refused because the marker exists. */
async function putIfAbsent(location: MarkerLocation, body: string): Promise<boolean> {
	try {
		await location.client.send(
			new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: body, ContentType: 'application/json', IfNoneMatch: '*' })
		);
		return true;
	} catch (error) {
		if (isConditionRefused(error)) return false;
		throw error;
	}
}

/** The marker as read: its id, or null when it does not parse; null when there is no marker. */
async function readMarker(location: MarkerLocation): Promise<{ id: string | null; createdAt: number | null; lastModified: number } | null> {
	let text: string;
	let lastModified: number;
	try {
		const response = await location.client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
		text = (await readBody(response, MAX_MARKER_BYTES)).toString('utf8');
		lastModified = response.LastModified?.getTime() ?? 0;
	} catch (error) {
		if (isNotFound(error)) return null;
		throw error;
	}
	const marker = parseIdentity(text);
	return marker ? { ...marker, lastModified } : { id: null, createdAt: null, lastModified };
}
