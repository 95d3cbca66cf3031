/** The JSON in a response body, or undefined when it is not JSON; the text exists only during the parse. */
export function parseJsonBody(body: Buffer): unknown {
	try {
		return JSON.parse(body.toString('utf8')) as unknown;
	} catch {
		return undefined;
	}
}
