import sharp from 'sharp';
import { runImageWork } from '../../plugins/generation/imageWork.js';
import type { StorageReport } from '../../plugins/storage/index.js';

const WIDTH = 900;
const HEIGHT = 520;
const PANEL = { left: 60, width: 520, height: 150 };
const COLORS = {
	background: '#1e1f22',
	text: '#dbdee1',
	muted: '#949ba4',
	generations: '#5865f2',
	credits: '#f0b232',
	temp: '#99aab5',
	free: '#3f4147'
};

/** `/storage report`'s picture: generations and credits per day for 30 days, the top users, storage by status. */
export function renderUsageChart(report: StorageReport): Promise<Buffer> {
	return runImageWork(() =>
		sharp(Buffer.from(usageChartSvg(report)))
			.png()
			.toBuffer()
	);
}

/** The chart as SVG (sharp draws it): plain shapes and text, every label escaped. */
export function usageChartSvg(report: StorageReport): string {
	const days = report.credits.last30Days;
	const parts = [
		`<rect width="${WIDTH}" height="${HEIGHT}" fill="${COLORS.background}"/>`,
		dailyBars(
			days.map((day) => day.generations),
			30,
			'Generations per day (30 days)',
			COLORS.generations
		),
		dailyBars(
			days.map((day) => day.spent),
			270,
			'Credits per day (30 days)',
			COLORS.credits
		),
		axisDays(days[0]?.day ?? '', days.at(-1)?.day ?? '', 270 + PANEL.height + 40),
		topUsers(report),
		storageByStatus(report)
	];
	return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif">${parts.join('')}</svg>`;
}

function dailyBars(values: readonly number[], top: number, title: string, color: string): string {
	const max = Math.max(...values, 0);
	const step = PANEL.width / Math.max(values.length, 1);
	const bars = values.map((value, index) => {
		const height = max > 0 ? (value / max) * PANEL.height : 0;
		const x = PANEL.left + index * step;
		return `<rect x="${x.toFixed(1)}" y="${(top + 24 + PANEL.height - height).toFixed(1)}" width="${(step * 0.8).toFixed(1)}" height="${height.toFixed(1)}" fill="${color}"/>`;
	});
	return [
		text(PANEL.left, top + 14, `${title} · total ${round(values.reduce((sum, value) => sum + value, 0))}`, 15, COLORS.text),
		text(PANEL.left - 8, top + 34, String(round(max)), 11, COLORS.muted, 'end'),
		text(PANEL.left - 8, top + 24 + PANEL.height, '0', 11, COLORS.muted, 'end'),
		`<line x1="${PANEL.left}" y1="${top + 24 + PANEL.height}" x2="${PANEL.left + PANEL.width}" y2="${top + 24 + PANEL.height}" stroke="${COLORS.muted}"/>`,
		...bars
	].join('');
}

function axisDays(first: string, last: string, y: number): string {
	return text(PANEL.left, y, first, 11, COLORS.muted) + text(PANEL.left + PANEL.width, y, last, 11, COLORS.muted, 'end');
}

function topUsers(report: StorageReport): string {
	const left = 620;
	const users = report.topUsers.slice(0, 8);
	const most = Math.max(...users.map((user) => user.bytes), 1);
	const rows = users.map((user, index) => {
		const y = 64 + index * 26;
		const width = (user.bytes / most) * 150;
		return (
			`<rect x="${left}" y="${y}" width="${width.toFixed(1)}" height="16" fill="${COLORS.generations}"/>` +
			text(left + 156, y + 13, `${user.usedMb} MB`, 11, COLORS.muted) +
			text(left, y - 2, `…${user.userId.slice(-6)}`, 10, COLORS.muted)
		);
	});
	return (
		text(left, 44, 'Top users (storage)', 15, COLORS.text) +
		(rows.length > 0 ? rows.join('') : text(left, 70, 'Nobody yet', 12, COLORS.muted))
	);
}

function storageByStatus(report: StorageReport): string {
	const left = 620;
	const top = 310;
	const width = 250;
	const { usedMb, tempMb, totalMb } = report.global;
	const share = (mb: number) => (totalMb > 0 ? Math.min(1, mb / totalMb) : 0) * width;
	const saved = share(Math.max(0, usedMb - tempMb));
	const temp = share(tempMb);
	return [
		text(left, top, 'Storage by status', 15, COLORS.text),
		`<rect x="${left}" y="${top + 14}" width="${width}" height="24" fill="${COLORS.free}"/>`,
		`<rect x="${left}" y="${top + 14}" width="${saved.toFixed(1)}" height="24" fill="${COLORS.generations}"/>`,
		`<rect x="${(left + saved).toFixed(1)}" y="${top + 14}" width="${temp.toFixed(1)}" height="24" fill="${COLORS.temp}"/>`,
		text(
			left,
			top + 58,
			`Saved ${round(usedMb - tempMb)} MB · temp ${round(tempMb)} MB · free ${round(Math.max(0, totalMb - usedMb))} MB`,
			11,
			COLORS.muted
		),
		text(left, top + 78, `${report.global.files} files · status ${report.global.status}`, 11, COLORS.muted)
	].join('');
}

function text(x: number, y: number, content: string, size: number, fill: string, anchor: 'start' | 'end' = 'start'): string {
	return `<text x="${x}" y="${y}" font-size="${size}" fill="${fill}" text-anchor="${anchor}">${escapeXml(content)}</text>`;
}

function round(value: number): number {
	return Math.round(value * 100) / 100;
}

function escapeXml(value: string): string {
	return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
