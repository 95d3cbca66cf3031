/**
 * Headers an owner adds to every request of a provider (ComfyUI behind a proxy that wants a token). They are
 * checked once, at start-up; a problem names the header, never its value (it is usually a secret).
 */

/** Headers the HTTP client or the websocket handshake sets itself: replacing one would break every request. */
const RESERVED = new Set([
	'host',
	'content-length',
	'content-type',
	'transfer-encoding',
	'connection',
	'upgrade',
	'keep-alive',
	'expect',
	'te',
	'trailer'
]);
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_VALUE_LENGTH = 8192;

/** What is wrong with `headers` as extra headers, one line per problem (empty when they can be used). */
export function extraHeaderProblems(headers: unknown): string[] {
	if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
		return ['expected an object of header names and values, like {"X-Proxy-Token":"..."}'];
	}
	const problems: string[] = [];
	const seen = new Set<string>();
	for (const [name, value] of Object.entries(headers)) {
		const lower = name.toLowerCase();
		if (!HEADER_NAME.test(name)) problems.push(`${JSON.stringify(name.slice(0, 64))} is not a valid header name`);
		else if (RESERVED.has(lower) || lower.startsWith('sec-websocket-'))
			problems.push(`${name} is set by the client itself and cannot be replaced`);
		else if (seen.has(lower)) problems.push(`${name} is given twice`);
		else if (typeof value !== 'string') problems.push(`the value of ${name} must be a string`);
		else if (/[\r\n\0]/.test(value)) problems.push(`the value of ${name} must be one line`);
		else if (value.length > MAX_VALUE_LENGTH) problems.push(`the value of ${name} is longer than ${MAX_VALUE_LENGTH} characters`);
		seen.add(lower);
	}
	return problems;
}
