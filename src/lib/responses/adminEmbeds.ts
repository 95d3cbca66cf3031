import type { EmbedBuilder } from 'discord.js';
import type { CleanupResult } from '../../plugins/storage/index.js';
import { fittedEmbed } from './fitEmbed.js';
import { Colors } from './theme.js';
import { formatMb, mbToBytes } from '../../plugins/storage/units.js';

/** `/storage cleanup`: what the temp clean-up removed. */
export function buildCleanupEmbed(result: CleanupResult, olderThanDays: number): EmbedBuilder {
	return fittedEmbed({
		color: Colors.success,
		title: 'Clean-up done',
		description:
			result.deleted === 0
				? `No temp files older than ${olderThanDays} days.`
				: `Removed ${result.deleted} temp ${result.deleted === 1 ? 'file' : 'files'} older than ${olderThanDays} days and freed ${formatMb(mbToBytes(result.freedMb))} MB.`
	});
}

/** `/quota-admin reset`: what was given back. */
export function buildResetEmbed(
	userId: string,
	outcome: { daily?: { previous: number }; storage?: { deleted: number; failed: number; freedMb: number } }
): EmbedBuilder {
	const lines: string[] = [];
	if (outcome.daily)
		lines.push(
			`Today's allowance given back (${outcome.daily.previous} ${outcome.daily.previous === 1 ? 'generation was' : 'generations were'} used).`
		);
	if (outcome.storage) {
		const { deleted, failed, freedMb } = outcome.storage;
		lines.push(`Deleted ${deleted} ${deleted === 1 ? 'image' : 'images'}, freed ${formatMb(mbToBytes(freedMb))} MB.`);
		if (failed > 0) lines.push(`${failed} could not be deleted (see the log); run it again.`);
	}
	return fittedEmbed({
		color: outcome.storage?.failed ? Colors.warning : Colors.success,
		title: 'Quota reset',
		description: `For <@${userId}>:\n${lines.join('\n')}`
	});
}
