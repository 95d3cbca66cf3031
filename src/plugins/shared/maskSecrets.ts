/** What a secret is replaced with, in log lines, command output and failure messages alike. */
export const REDACTED = '[redacted]';

/**
 * A function that replaces every occurrence of the given secrets in a text with `[redacted]`. Empty values are
 * dropped (an empty string "occurs" everywhere) and the longest goes first, so a secret that contains another is
 * masked whole rather than leaving its tail readable.
 */
export function secretMasker(secrets: Iterable<string>): (text: string) => string {
	const values = [...new Set([...secrets].filter((value) => value.length > 0))].sort((a, b) => b.length - a.length);
	if (values.length === 0) return (text) => text;
	return (text) => {
		let result = text;
		for (const secret of values) if (result.includes(secret)) result = result.replaceAll(secret, REDACTED);
		return result;
	};
}
