import type { JobKind, JobStatus } from '../../plugins/generation/index.js';
import { MessageLimits } from '../discord/limits.js';
import { truncate } from '../../plugins/shared/truncate.js';
import { oneLine } from './text.js';
import { escapeMarkdown } from 'discord.js';

const VERBS: Record<JobKind, string> = {
	'text-to-image': 'Imagining',
	'image-to-image': 'Reimagining',
	upscale: 'Upscaling'
};

/**
 * The text of a reply while a job runs, Midjourney style: what is being made, for whom, and its state
 * ("In queue: position 3", "Imagining · step 12/30 · 14 s" when the provider counts its steps, "Saving").
 */
export function progressText(input: { kind: JobKind; prompt?: string | null; status: JobStatus | null; elapsedMs: number }): string {
	const seconds = Math.max(0, Math.floor(input.elapsedMs / 1000));
	const what = input.prompt ? `**${escapeMarkdown(oneLine(input.prompt, 300))}**` : `**${VERBS[input.kind]}**`;
	let state: string;
	switch (input.status?.state) {
		case 'queued':
			state = `⏳ In queue: position ${input.status.position} · ${seconds} s`;
			break;
		case 'generating': {
			const progress = input.status.progress;
			state = `🎨 ${VERBS[input.kind]}${progress ? ` · step ${progress.value}/${progress.max}` : ''} · ${seconds} s`;
			break;
		}
		case 'saving':
			state = `💾 Saving · ${seconds} s`;
			break;
		default:
			state = `⏳ Starting · ${seconds} s`;
	}
	return truncate(`${what}\n${state}`, MessageLimits.content);
}
