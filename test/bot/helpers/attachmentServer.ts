import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import type { FakeAttachment } from './fakeInteractions.js';

/**
 * Discord's CDN, played by a server on 127.0.0.1: it serves the bytes of "uploaded" attachments and
 * counts requests, so tests can prove what was (not) downloaded.
 */
export class AttachmentServer {
	public readonly hits: string[] = [];
	readonly #files = new Map<string, Buffer>();
	#server: Server | null = null;
	#url = '';

	public static async start(): Promise<AttachmentServer> {
		const server = new AttachmentServer();
		await server.#listen();
		return server;
	}

	async #listen() {
		this.#server = createServer((request, response) => {
			const path = request.url ?? '/';
			this.hits.push(path);
			const data = this.#files.get(path);
			if (!data) {
				response.writeHead(404).end();
				return;
			}
			response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.byteLength }).end(data);
		});
		await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
		this.#url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
	}

	/** An attachment as Discord resolves it in an interaction: its declared size and type, and a URL here. */
	public attach(name: string, data: Buffer, declared: Partial<FakeAttachment> = {}): FakeAttachment {
		const path = `/attachments/${this.#files.size + 1}/${encodeURIComponent(name)}`;
		this.#files.set(path, data);
		return {
			id: `90000000000000${String(1000 + this.#files.size)}`,
			name,
			url: `${this.#url}${path}`,
			proxyURL: `${this.#url}${path}`,
			size: data.byteLength,
			contentType: 'image/png',
			width: null,
			height: null,
			...declared
		};
	}

	public async close(): Promise<void> {
		await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
	}
}

/** A real PNG (a gradient), decodable by sharp. */
export async function samplePng(width = 256, height = 256): Promise<Buffer> {
	const pixels = Buffer.alloc(width * height * 3);
	for (let y = 0; y < height; y++) {
		for (let x = 0; x < width; x++) {
			const offset = (y * width + x) * 3;
			pixels[offset] = (x * 255) / width;
			pixels[offset + 1] = (y * 255) / height;
			pixels[offset + 2] = 128;
		}
	}
	return sharp(pixels, { raw: { width, height, channels: 3 } })
		.png()
		.toBuffer();
}

/** Noise compresses badly: a PNG this big stays big, for upload-limit tests. */
export async function noisyPng(width = 512, height = 512): Promise<Buffer> {
	const pixels = Buffer.alloc(width * height * 3);
	let seed = 42;
	for (let index = 0; index < pixels.length; index++) {
		seed = (seed * 1103515245 + 12345) & 0x7fffffff;
		pixels[index] = seed >> 16;
	}
	return sharp(pixels, { raw: { width, height, channels: 3 } })
		.png()
		.toBuffer();
}
