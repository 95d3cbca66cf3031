import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/lib/config.js';
import { StorageManager } from '../../../src/plugins/storage/StorageManager.js';
import { S3TestServer } from '../../helpers/s3Server.js';
import { makeTempDir, pngBytes, USER_A } from '../../helpers/storageFixtures.js';

/**
 * The checksum settings reach the wire: a recording proxy on loopback in front of s3rver shows what each upload
 * sends. By default the SDK adds a CRC32 checksum header (the body is sent whole, never in the aws-chunked framing
 * that R2 and B2 would store as content); with WHEN_REQUIRED nothing is added.
 */

interface Recorded {
	method: string;
	url: string;
	headers: IncomingHttpHeaders;
	bodyBytes: number;
}

let s3: S3TestServer;
let proxy: Server;
let proxyUrl: string;
const recorded: Recorded[] = [];
let cleanup: (() => Promise<void>) | undefined;

beforeAll(async () => {
	s3 = await S3TestServer.start();
	proxy = createServer((incoming, outgoing) => {
		const chunks: Buffer[] = [];
		incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
		incoming.on('end', () => {
			const body = Buffer.concat(chunks);
			recorded.push({ method: incoming.method ?? '', url: incoming.url ?? '', headers: incoming.headers, bodyBytes: body.length });
			const forwarded = request(
				{ host: '127.0.0.1', port: s3.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
				(answer) => {
					outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
					answer.pipe(outgoing);
				}
			);
			forwarded.on('error', () => outgoing.destroy());
			forwarded.end(body);
		});
	});
	await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
	proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
afterAll(async () => {
	await new Promise((resolve) => proxy.close(resolve));
	await s3.close();
});
afterEach(async () => {
	recorded.length = 0;
	await cleanup?.();
	cleanup = undefined;
});

/** Saves one image through the proxy and returns the recorded upload of the image itself. */
async function uploadOfImage(s3Options: Record<string, unknown>): Promise<{ upload: Recorded; read: Buffer | null }> {
	const temp = await makeTempDir();
	cleanup = temp.cleanup;
	const bucket = await s3.createBucket();
	const options = s3.storageOptions(bucket);
	const manager = await StorageManager.open({
		storageRoot: join(temp.dir, 'root'),
		cleanupIntervalMinutes: 0,
		...options,
		s3: { ...options.s3, endpoint: proxyUrl, ...s3Options }
	});
	try {
		const data = pngBytes(20_000, 4);
		const saved = await manager.saveImage({ data, userId: USER_A });
		if (!saved.ok) throw new Error(saved.message);
		const upload = recorded.find((entry) => entry.method === 'PUT' && entry.url.includes(`${saved.image.id}.png`));
		if (!upload) throw new Error('the upload went elsewhere');
		const read = await manager.readImage(USER_A, saved.image.id);
		return { upload, read: read.ok ? read.data : null };
	} finally {
		await manager.close();
	}
}

describe('upload checksums', () => {
	it('by default: a CRC32 checksum header, the body whole (no aws-chunked framing), read back intact', async () => {
		const { upload, read } = await uploadOfImage({});
		expect(upload.headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
		expect(upload.headers['content-encoding']).toBeUndefined();
		expect(upload.headers['content-length']).toBe('20000');
		expect(upload.bodyBytes).toBe(20_000);
		expect(read).toEqual(pngBytes(20_000, 4));
	});

	it('AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED (through the configuration): no checksum is sent', async () => {
		const temp = await makeTempDir();
		const config = loadConfig({
			STORAGE_ROOT: temp.dir,
			...s3.env('any-bucket'),
			AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
			AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED'
		});
		await temp.cleanup();
		const { upload, read } = await uploadOfImage({
			requestChecksumCalculation: config.storage.s3?.requestChecksumCalculation,
			responseChecksumValidation: config.storage.s3?.responseChecksumValidation
		});
		expect(
			Object.keys(upload.headers).filter((name) => name.startsWith('x-amz-checksum') || name === 'x-amz-sdk-checksum-algorithm')
		).toEqual([]);
		expect(upload.bodyBytes).toBe(20_000);
		expect(read).toEqual(pngBytes(20_000, 4));
	});
});
