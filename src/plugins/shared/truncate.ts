const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Cuts `text` to at most `max` UTF-16 code units, ending with an ellipsis when cut. It cuts between
 * graphemes, so an emoji sequence or a letter with its accents is never split, and it never leaves a
 * lone backslash from an escaped character at the end.
 */
export function truncate(text: string, max: number, ellipsis = '…'): string {
	if (text.length <= max) return text;
	if (max <= ellipsis.length) return ellipsis.slice(0, Math.max(0, max));
	const budget = max - ellipsis.length;
	let kept = '';
	for (const { segment } of graphemes.segment(text)) {
		if (kept.length + segment.length > budget) break;
		kept += segment;
	}
	const trailingBackslashes = /\\+$/.exec(kept)?.[0].length ?? 0;
	if (trailingBackslashes % 2 === 1) kept = kept.slice(0, -1);
	return kept + ellipsis;
}
