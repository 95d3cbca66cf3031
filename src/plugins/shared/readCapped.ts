/** A response body as undici and the AWS SDK hand it out: chunks to iterate, and a way to stop the transfer. */
export interface CappableBody extends AsyncIterable<Uint8Array> {
	destroy?(): unknown;
	on?(event: 'error', listener: () => void): unknown;
}

/**
 * Reads a body into one buffer, or answers null once it is larger than `maxBytes`: refused from the declared length
 * when the server sent one, and cut off while streaming otherwise, so a server that lies about (or omits) its length
 * cannot make us hold more than the cap. A body cut off is destroyed, and the abort error that causes is expected.
 */
export async function readCapped(body: CappableBody, maxBytes: number, declaredBytes?: number): Promise<Buffer | null> {
	if (declaredBytes !== undefined && Number.isFinite(declaredBytes) && declaredBytes > maxBytes) {
		drop(body);
		return null;
	}
	// Chunks are collected and joined once: the body is held at most twice, briefly, never as a string.
	const chunks: Uint8Array[] = [];
	let received = 0;
	for await (const chunk of body) {
		received += chunk.byteLength;
		if (received > maxBytes) {
			drop(body);
			return null;
		}
		chunks.push(chunk);
	}
	const [only] = chunks;
	return chunks.length === 1 && Buffer.isBuffer(only) ? only : Buffer.concat(chunks, received);
}

function drop(body: CappableBody): void {
	body.on?.('error', () => undefined);
	body.destroy?.();
}
