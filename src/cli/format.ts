import type { QuotaStatus } from '../plugins/storage/QuotaStatus.js';
import type { ReconcileReport, StorageReport, StoredImage } from '../plugins/storage/StorageManager.js';
import { truncate } from '../plugins/shared/truncate.js';
import { formatBytes, formatDuration, formatMb } from '../plugins/storage/units.js';

/** Human-readable renderings of the services' results (with --json, the objects themselves are printed). */

function plural(count: number, one: string, many = `${one}s`): string {
	return `${count} ${count === 1 ? one : many}`;
}

export function formatLimitsSource(limits: QuotaStatus['limits']): string {
	const own = ownLimitsSource(limits);
	return limits.dailyFrom === 'server' ? `${own}; the daily limit is the server's (settings --guild)` : own;
}

function ownLimitsSource(limits: QuotaStatus['limits']): string {
	switch (limits.source) {
		case 'default':
			return 'defaults (MAX_USER_DAILY_GENS, MAX_USER_STORAGE_MB)';
		case 'tier':
			return `role tier ${JSON.stringify(limits.tierName ?? '')}`;
		case 'owner':
			return 'owner allowance (OWNER_IDS)';
		case 'override':
			return 'override set by an admin (limits --clear removes it)';
	}
}

export function formatStatus(userId: string, status: QuotaStatus, now = Date.now()): string {
	const { user, daily, global } = status;
	const running = daily.pending > 0 ? `, ${daily.pending} running now` : '';
	return [
		`User ${userId}`,
		`  Storage  ${formatBytes(user.usedBytes)} of ${formatMb(user.limitBytes)} MB (${user.percentage} %, ${user.level}), ${plural(user.files, 'image')}`,
		`  Today    ${daily.used} of ${daily.limit} generations used${running}, ${daily.remaining} left; resets in ${formatDuration(daily.resetsAt.getTime() - now)} (${daily.resetsAt.toISOString()})`,
		`  Limits   ${formatLimitsSource(status.limits)}`,
		`Global     ${formatBytes(global.usedBytes)} of ${formatMb(global.totalBytes)} MB (${global.percentage} %, ${global.level}), ${plural(global.files, 'file')}, ${global.tempMb} MB temp`
	].join('\n');
}

export function formatImages(userId: string, images: readonly StoredImage[]): string {
	if (images.length === 0) return `User ${userId} has no saved images.`;
	const total = images.reduce((sum, image) => sum + image.bytes, 0);
	const lines = images.map((image) => {
		const prompt = typeof image.metadata.prompt === 'string' ? `  ${JSON.stringify(truncate(image.metadata.prompt, 60))}` : '';
		return `  ${image.id}  ${image.createdAt.toISOString()}  ${formatBytes(image.bytes).padStart(9)}${prompt}`;
	});
	return [`User ${userId}: ${plural(images.length, 'image')}, ${formatBytes(total)}`, ...lines].join('\n');
}

export function formatReport(report: StorageReport, top: number): string {
	const { global } = report;
	const lines = [
		`Storage  ${formatBytes(global.usedBytes)} of ${formatMb(global.totalBytes)} MB (${global.percentage} %, ${global.level}), ${plural(global.files, 'file')}`,
		`Temp     ${global.tempMb} MB in ${plural(report.tempFiles, 'file')}`,
		`Credits  ${creditsText(report.credits)}`
	];
	if (top === 0) return lines.join('\n');
	if (report.topUsers.length === 0) lines.push('No user stores anything.');
	else {
		lines.push('Top users');
		for (const user of report.topUsers)
			lines.push(`  ${user.userId}  ${formatBytes(user.bytes).padStart(9)}  ${plural(user.files, 'image')}`);
	}
	return lines.join('\n');
}

function creditsText(credits: StorageReport['credits']): string {
	const { today, last30Days } = credits;
	const month = Math.round(last30Days.reduce((sum, day) => sum + day.spent, 0) * 1000) / 1000;
	const budget = today.budget === null ? '' : ` of ${today.budget}`;
	return `${today.spent}${budget} spent today (${today.reserved} reserved by running jobs), ${month} in the last 30 days`;
}

export function formatReconcile(report: ReconcileReport): string {
	const changes = [
		`${report.added} added`,
		`${report.removed} removed`,
		`${report.resized} resized`,
		`${report.totalsFixed} totals fixed`,
		`${report.partialsRemoved} leftovers of interrupted writes removed`,
		`${report.reservationsReleased} abandoned reservations released`,
		...(report.orphansRemoved > 0 ? [`${report.orphansRemoved} uploads whose commit never happened removed`] : []),
		...(report.countsRestored > 0 ? [`${report.countsRestored} daily generation counts restored from the images`] : [])
	];
	const lines = [`Reconciled the ledger with ${plural(report.files, 'file')} on disk in ${report.durationMs} ms: ${changes.join(', ')}.`];
	if (report.ignored.length > 0) {
		lines.push(`Ignored (symlinks or unknown files, never followed or counted): ${report.ignored.length}`);
		for (const path of report.ignored.slice(0, 20)) lines.push(`  ${path}`);
		if (report.ignored.length > 20) lines.push(`  … and ${report.ignored.length - 20} more`);
	}
	return lines.join('\n');
}
