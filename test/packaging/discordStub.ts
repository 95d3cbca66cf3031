import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
	method: string;
	path: string;
	/** Whether the request carried a bot token (its value is not kept). */
	authorized: boolean;
}

export interface DiscordStub {
	/** What to give discord.js as `rest.api` (it appends `/v10/...`). */
	url: string;
	requests: StubRequest[];
	close(): Promise<void>;
}

/**
 * Discord's REST API as far as a login goes: `GET /gateway/bot` is the first request discord.js makes in
 * `client.login()`, after Sapphire's pre-login hooks and store loading. This stub refuses the token with
 * Discord's documented 401 body, so login fails there and nothing reaches the real gateway.
 */
export async function startDiscordStub(): Promise<DiscordStub> {
	const requests: StubRequest[] = [];
	const server = createServer((request: IncomingMessage, response) => {
		const path = new URL(request.url ?? '/', 'http://stub').pathname;
		requests.push({ method: request.method ?? '', path, authorized: /^Bot \S+$/.test(request.headers.authorization ?? '') });
		request.resume();
		const unauthorized = /\/gateway\/bot$/.test(path);
		response.writeHead(unauthorized ? 401 : 404, { 'content-type': 'application/json' });
		response.end(JSON.stringify(unauthorized ? { message: '401: Unauthorized', code: 0 } : { message: '404: Not Found', code: 0 }));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		requests,
		close: () => new Promise((resolve) => server.close(() => resolve()))
	};
}
