import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { readCapped, type CappableBody } from '../../../shared/readCapped.js';

/** An object larger than a read allows: something other than what this store wrote is under its key. */
export class ObjectTooLargeError extends Error {
	public override readonly name = 'ObjectTooLargeError';
}

/**
 * The body of a GetObject answer, at most `maxBytes`: refused from its Content-Length when the server sends one, and
 * cut off while streaming otherwise, so a huge object planted under one of our keys cannot exhaust the memory.
 */
export async function readBody(response: GetObjectCommandOutput, maxBytes: number): Promise<Buffer> {
	const body = response.Body as CappableBody | undefined;
	if (!body) return Buffer.alloc(0);
	if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
		body.destroy?.();
		throw new ObjectTooLargeError(`the object holds ${response.ContentLength} bytes, more than the ${maxBytes} allowed`);
	}
	const read = await readCapped(body, maxBytes);
	if (read === null) throw new ObjectTooLargeError(`the object holds more than the ${maxBytes} bytes allowed`);
	return read;
}
