/** One "MB" in this project is a mebibyte, the unit Discord's upload limits use. */
export const BYTES_PER_MB = 1024 * 1024;

export function mbToBytes(mb: number): number {
	return Math.round(mb * BYTES_PER_MB);
}

/** Bytes as megabytes with two decimals, as a number (for status objects). */
export function bytesToMb(bytes: number): number {
	return Math.round((bytes / BYTES_PER_MB) * 100) / 100;
}

/** "498.2" style: one decimal below 1000 MB, none above, as people read disk sizes. */
export function formatMb(bytes: number): string {
	const mb = bytes / BYTES_PER_MB;
	if (mb >= 1000) return Math.round(mb).toString();
	return (Math.round(mb * 10) / 10).toString();
}

/** Bytes as "1.4 MB", or "35 KB" below a tenth of a megabyte, where megabytes would read as "0". */
export function formatBytes(bytes: number): string {
	if (bytes >= BYTES_PER_MB / 10) return `${formatMb(bytes)} MB`;
	if (bytes <= 0) return '0 KB';
	return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** "3 h 12 min", "12 min", "45 s": how long until something resets. */
export function formatDuration(ms: number): string {
	const totalSeconds = Math.max(0, Math.ceil(ms / 1000));
	const hours = Math.floor(totalSeconds / 3600);
	const minutes = Math.floor((totalSeconds % 3600) / 60);
	if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
	if (minutes > 0) return `${minutes} min`;
	return `${totalSeconds} s`;
}
