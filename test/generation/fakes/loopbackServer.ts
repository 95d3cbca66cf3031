import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A real HTTP server on 127.0.0.1 (a free port) for the fake providers: it keeps track of its sockets so
 * `close()` ends even with a request a fake deliberately never answers.
 */
export class LoopbackServer {
	readonly #server: Server;
	readonly #sockets = new Set<Socket>();

	private constructor(handler: (request: IncomingMessage, response: ServerResponse) => void) {
		this.#server = createServer(handler);
		this.#server.on('connection', (socket) => {
			socket.on('error', () => undefined);
			this.#sockets.add(socket);
			socket.once('close', () => this.#sockets.delete(socket));
		});
	}

	public static async listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<LoopbackServer> {
		const server = new LoopbackServer(handler);
		await new Promise<void>((resolve, reject) => {
			server.#server.once('error', reject);
			server.#server.listen(0, '127.0.0.1', () => resolve());
		});
		return server;
	}

	/** Hands HTTP upgrade requests (websockets) to `handler`; their sockets are closed by `close()` too. */
	public onUpgrade(handler: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): void {
		this.#server.on('upgrade', handler);
	}

	public get url(): string {
		const { port } = this.#server.address() as AddressInfo;
		return `http://127.0.0.1:${port}`;
	}

	public async close(): Promise<void> {
		for (const socket of this.#sockets) socket.destroy();
		await new Promise<void>((resolve) => this.#server.close(() => resolve()));
	}
}

/** A request's whole body. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
	return Buffer.concat(chunks);
}
