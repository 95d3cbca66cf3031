import type { EmbedBuilder } from 'discord.js';
import type { QuotaStatus } from '../../plugins/storage/index.js';
import { fittedEmbed } from './fitEmbed.js';
import { dailyLine, globalLine, storageLine, tierLabel } from './quotaBars.js';
import { levelColor } from './theme.js';
import { oneLine } from './text.js';

/** `/quota`: today's allowance and storage as bars, the reset time as a Discord timestamp, the tier. */
export function buildQuotaEmbed(status: QuotaStatus, subject: { name: string; self: boolean; note?: string }): EmbedBuilder {
	const worst = [status.user.level, status.global.level].includes('CRITICAL')
		? 'CRITICAL'
		: [status.user.level, status.global.level].includes('WARNING') || !status.daily.allowed
			? 'WARNING'
			: 'OK';
	return fittedEmbed({
		color: levelColor(worst),
		title: subject.self ? 'Your image quota' : `Image quota of ${oneLine(subject.name, 200)}`,
		...(subject.note ? { description: subject.note } : {}),
		fields: [
			{ name: 'Today', value: dailyLine(status) },
			{ name: 'Storage', value: storageLine(status) },
			{ name: 'Tier', value: tierLabel(status), inline: true },
			{ name: 'Bot storage', value: globalLine(status), inline: true }
		]
	});
}
