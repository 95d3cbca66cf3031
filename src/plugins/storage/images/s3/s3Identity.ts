import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageConfigError } from '../../StorageConfigError.js';
import { IDENTITY_SHAPE, newStoreId, parseIdentity, serializeIdentity } from '../records.js';
import { isConditionRefused, isNotFound } from './s3Errors.js';
import { readBody } from './readBody.js';

/**
 * On a server that ignores `If-None-Match` (s3rver, older S3-compatible servers), how long a creator waits before it
 * reads the marker back: longer than a process that also found no marker takes to write its own, so every creator
 * reads the last write. Paid once in a store's life, when the marker is created.
 */
export const IDENTITY_SETTLE_MS = 1500;
const MAX_MARKER_BYTES = 4096;

/**
 * A store's identity marker (`<prefix>/.imagine-store`), created once. Two processes creating it at the same time
 * must end up with the same id, or the second would be refused by the ledger the first claimed:
 *
 * - The marker is written with `If-None-Match: *`. AWS S3, Cloudflare R2 and MinIO refuse it (412) when the object
 *   exists, so exactly one write wins and the others read the winner's id.
 * - Whether the server honoured the condition is then asked by writing the same bytes again with the same condition:
 *   a server that honours it refuses (the marker exists now), and the first write is known to be the only one.
 * - A server that accepts the second write ignores conditions (s3rver does: it applies `If-None-Match` to reads
 *   only), so the last write wins: the creator waits `IDENTITY_SETTLE_MS` and takes whatever the marker then holds,
 *   as does every other creator.
 */
export async function readOrCreateS3Identity(client: S3Client, bucket: string, key: string, address: string): Promise<string> {
	const existing = await readMarker(client, bucket, key, address);
	if (existing) return existing;
	const id = newStoreId();
	const body = serializeIdentity(id, new Date());
	if (!(await putIfAbsent(client, bucket, key, body))) return await readWinner(client, bucket, key, address);
	if (!(await putIfAbsent(client, bucket, key, body))) return id;
	await sleep(IDENTITY_SETTLE_MS);
	return await readWinner(client, bucket, key, address);
}

async function readWinner(client: S3Client, bucket: string, key: string, address: string): Promise<string> {
	const winner = await readMarker(client, bucket, key, address);
	if (!winner) throw new Error(`${address} was written but cannot be read back`);
	return winner;
}

/** True when written; false when the server refused because the marker exists. */
async function putIfAbsent(client: S3Client, bucket: string, key: string, body: string): Promise<boolean> {
	try {
		await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', IfNoneMatch: '*' }));
		return true;
	} catch (error) {
		if (isConditionRefused(error)) return false;
		throw error;
	}
}

async function readMarker(client: S3Client, bucket: string, key: string, address: string): Promise<string | null> {
	let text: string;
	try {
		const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
		text = (await readBody(response, MAX_MARKER_BYTES)).toString('utf8');
	} catch (error) {
		if (isNotFound(error)) return null;
		throw error;
	}
	const id = parseIdentity(text);
	if (id) return id;
	throw new StorageConfigError(`${address} is damaged: it should hold ${IDENTITY_SHAPE}. Restore it, or delete it if this store is new.`);
}
