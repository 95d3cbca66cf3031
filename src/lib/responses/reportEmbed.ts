import type { EmbedBuilder } from 'discord.js';
import type { StorageReport } from '../../plugins/storage/index.js';
import { fittedEmbed } from './fitEmbed.js';
import { bar } from './quotaBars.js';
import { levelColor } from './theme.js';
import { formatMb, mbToBytes } from '../../plugins/storage/units.js';

/** `/storage report`: the bot's disk, temp files, file count and the users storing the most. */
export function buildReportEmbed(report: StorageReport): EmbedBuilder {
	const { global } = report;
	const top = report.topUsers.length
		? report.topUsers
				.map(
					(user, index) =>
						`${index + 1}. <@${user.userId}> · ${formatMb(mbToBytes(user.usedMb))} MB · ${user.files} ${user.files === 1 ? 'file' : 'files'}`
				)
				.join('\n')
		: 'Nobody has stored anything yet.';
	return fittedEmbed({
		color: levelColor(global.level),
		title: 'Storage report',
		fields: [
			{
				name: 'Used',
				value: `${bar(global.usedMb, global.totalMb)} **${formatMb(mbToBytes(global.usedMb))}/${formatMb(mbToBytes(global.totalMb))} MB** (${global.percentage} %)`
			},
			{
				name: 'Temp files',
				value: `${formatMb(mbToBytes(global.tempMb))} MB in ${report.tempFiles} ${report.tempFiles === 1 ? 'file' : 'files'}`,
				inline: true
			},
			{ name: 'Files', value: `${global.files}`, inline: true },
			{ name: 'Status', value: global.level, inline: true },
			{ name: 'Credits today', value: creditsToday(report.credits.today), inline: true },
			{ name: 'Credits, 30 days', value: `${sumCredits(report.credits.last30Days)}`, inline: true },
			{ name: 'Top users', value: top }
		]
	});
}

function creditsToday(today: StorageReport['credits']['today']): string {
	return `${today.spent}${today.budget === null ? '' : ` of ${today.budget}`}${today.reserved > 0 ? ` (+${today.reserved} running)` : ''}`;
}

function sumCredits(days: StorageReport['credits']['last30Days']): number {
	return Math.round(days.reduce((sum, day) => sum + day.spent, 0) * 1000) / 1000;
}
