/**
 * Text that is safe inside SVG character data and attributes: XML-escaped, with the characters XML 1.0
 * forbids (control characters, lone surrogates, U+FFFE/U+FFFF) removed and whitespace folded.
 */
export function xmlText(text: string): string {
	return text
		.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
		.replace(/\s+/g, ' ')
		.replace(/[\p{Cc}\uFFFE\uFFFF]/gu, '')
		.replace(/&/g, '&amp;')
		.replace(/</g, '&lt;')
		.replace(/>/g, '&gt;')
		.replace(/"/g, '&quot;')
		.replace(/'/g, '&apos;');
}
