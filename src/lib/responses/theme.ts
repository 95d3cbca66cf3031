/** Embed colours: one meaning each, so users learn them. */
export const Colors = {
	result: 0x5865f2,
	preview: 0x99aab5,
	success: 0x57f287,
	warning: 0xfee75c,
	denied: 0xf0b232,
	error: 0xed4245,
	neutral: 0x2b2d31
} as const;

/** The colour of a quota level (OK, WARNING above 80 %, CRITICAL above 95 %). */
export function levelColor(level: 'OK' | 'WARNING' | 'CRITICAL'): number {
	return level === 'CRITICAL' ? Colors.error : level === 'WARNING' ? Colors.warning : Colors.success;
}
