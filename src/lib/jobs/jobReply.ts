import { container } from '@sapphire/framework';
import type { Failure } from '../../plugins/shared/Failure.js';
import {
	MessageFlags,
	type ButtonInteraction,
	type ChatInputCommandInteraction,
	type EmbedBuilder,
	type MessageCreateOptions
} from 'discord.js';
import type { JobFailure, JobInput } from '../../plugins/generation/index.js';
import { QUOTA_RULES } from '../../plugins/storage/index.js';
import { mbToBytes } from '../../plugins/storage/units.js';
import { isExpiredInteraction, isReplyGone } from '../discord/apiErrors.js';
import { replyPrivately } from '../discord/privateReply.js';
import { checkDeclaredImage, downloadAttachment } from '../discord/attachments.js';
import { buildDenialEmbed } from '../responses/denialEmbed.js';
import { attachmentLimitOf, INTERACTION_TOKEN_LIFETIME_MS } from '../discord/limits.js';
import { buildFailureEmbed } from '../responses/failureEmbed.js';
import { detailsOf, detailsOfGenerated } from '../responses/imageDetails.js';
import { progressText } from '../responses/progress.js';
import { ProgressReporter, type ProgressReporterOptions } from './ProgressReporter.js';
import { requesterOf, type Requester } from '../discord/requester.js';
import { isAgeRestricted } from '../discord/ageRestricted.js';
import type { ImageMessage } from '../responses/resultMessage.js';
import { imageMessageFor } from '../images/imageMessage.js';

/** The interactions that start a generation: a slash command or a result button. */
export type GenerationInteraction = ChatInputCommandInteraction | ButtonInteraction;

/**
 * A failure found while preparing the job's input (a bad or unreachable attachment, a deleted image): nothing
 * was reserved. Shown with the standard failure embed, or with `embed` when one is given.
 */
export interface InputFailure extends Failure {
	embed?: EmbedBuilder;
}

/**
 * The job, or a function that prepares it once the reply is deferred: a download or a read of a stored image
 * must not delay the acknowledgement, and may take longer than Discord's 3 s.
 */
export type JobSource = JobInput | (() => Promise<JobInput | InputFailure>);

export interface JobReplyOptions {
	progress?: ProgressReporterOptions;
	/** How long the interaction token is trusted; after that, results go to the channel. Default 15 min less a margin. */
	tokenLifetimeMs?: number;
}

const QUOTA_REASONS = new Set(['DAILY_LIMIT', 'USER_QUOTA', 'GLOBAL_QUOTA']);
/** Keep clear of the token's end: an edit sent at 14:59 may arrive too late. */
const TOKEN_MARGIN_MS = 60_000;

const replies = new Set<Promise<void>>();

/**
 * The whole reply of a generation, shared by /imagine, /reimagine, /upscale and the result buttons:
 * defer first, before any I/O (Discord allows 3 s, and under load a ledger read or a file read can wait
 * behind other work), prepare the input, run the one guarded job (`container.imageJobs.run`: its atomic
 * reservation is the quota check, and a denial comes back as a value), show its state while it runs
 * (queued at position N / generating, elapsed seconds; edits throttled), then deliver the result, or
 * the denial or failure privately. A result that arrives after the 15-minute token is posted in the channel.
 */
export function replyWithJob(interaction: GenerationInteraction, source: JobSource, options: JobReplyOptions = {}): Promise<void> {
	const reply = runJobReply(interaction, source, options);
	replies.add(reply);
	void reply.catch(() => undefined).finally(() => replies.delete(reply));
	return reply;
}

/** Waits (at most `timeoutMs`) for replies still being delivered; the bot calls it when it shuts down. Returns how many were left. */
export async function settleJobReplies(timeoutMs: number): Promise<number> {
	if (replies.size === 0) return 0;
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
	await Promise.race([Promise.allSettled([...replies]), timeout]);
	clearTimeout(timer);
	return replies.size;
}

async function runJobReply(interaction: GenerationInteraction, source: JobSource, options: JobReplyOptions): Promise<void> {
	const created = interaction.createdTimestamp || Date.now();
	const deadline = created + (options.tokenLifetimeMs ?? INTERACTION_TOKEN_LIFETIME_MS - TOKEN_MARGIN_MS);
	await interaction.deferReply();
	const requester = requesterOf(interaction);

	let job: JobInput;
	if (typeof source === 'function') {
		// Preparing downloads or reads an image: not worth doing for a user the controls or the quota refuse anyway.
		const refused = await refusalBeforePreparing(requester, interaction);
		if (refused) return sendFailure(interaction, failureEmbedOf(refused), deadline);
		const prepared = await source();
		if ('ok' in prepared) return sendFailure(interaction, prepared.embed ?? buildFailureEmbed(prepared), deadline);
		job = prepared;
	} else job = source;

	const prompt = 'prompt' in job.request ? job.request.prompt : null;
	const reporter = new ProgressReporter(
		(status, elapsedMs) => progressText({ kind: job.kind, prompt, status, elapsedMs }),
		(content) => (Date.now() < deadline ? interaction.editReply({ content, allowedMentions: { parse: [] } }) : Promise.resolve()),
		options.progress
	);
	// No "starting" edit up front: a denial from the reservation comes back at once, and the public reply
	// should not show a job that is about to be refused. The job's first state (queued, generating) is shown.
	let result;
	try {
		result = await container.imageJobs.run({
			...job,
			userId: requester.id,
			roleIds: requester.roleIds,
			guildId: interaction.guildId,
			channelId: interaction.channelId,
			ageRestricted: isAgeRestricted(interaction.channel),
			onStatus: (status) => reporter.update(status)
		});
	} finally {
		await reporter.stop();
	}

	if (!result.ok) return sendFailure(interaction, failureEmbedOf(result), deadline);
	const details = result.stored ? detailsOf(result.stored) : detailsOfGenerated(result.image, job);
	const message = await imageMessageFor({
		details,
		data: result.image.data,
		owner: { id: requester.id, name: requester.name, avatarUrl: requester.avatarUrl },
		status: result.status,
		attachmentLimit: attachmentLimitOf(interaction),
		supports: container.generator.describe().supports
	});
	await deliver(interaction, message, deadline, requester.id);
}

/**
 * A block of the user and the server's gates, then the quota rules (read once), for a job that needs preparing: the denial, or null to go
 * on. A ledger that cannot be read is no answer: the job's reservation then reports it as it reports any ledger failure.
 */
async function refusalBeforePreparing(requester: Requester, interaction: GenerationInteraction): Promise<JobFailure | null> {
	try {
		const { id: userId, roleIds } = requester;
		const { guildId, channelId } = interaction;
		const blocked = await container.storage.controls.screen({ userId, guildId, channelId, roleIds });
		if (blocked && blocked.reason !== 'IO') return blocked;
		// The same read as the command's quota preconditions, when they ran on this interaction.
		const checked = await container.storage.checkQuota(requester.id, QUOTA_RULES, { roleIds, guildId, request: interaction });
		return checked.ok ? null : checked;
	} catch {
		return null;
	}
}

/** A quota denial renders exactly as the precondition's denial does; any other failure with its own message. */
export function failureEmbedOf(failure: JobFailure): EmbedBuilder {
	if (QUOTA_REASONS.has(failure.reason) && failure.status) {
		return buildDenialEmbed({ reason: failure.reason, message: failure.message, status: failure.status });
	}
	return buildFailureEmbed(failure);
}

async function deliver(interaction: GenerationInteraction, message: ImageMessage, deadline: number, userId: string): Promise<void> {
	if (Date.now() < deadline) {
		try {
			await interaction.editReply({ content: '', ...message, allowedMentions: { parse: [] } });
			return;
		} catch (error) {
			if (!isReplyGone(error)) throw error;
		}
	}
	await sendToChannel(interaction, { content: `<@${userId}>, your image is ready.`, ...message, allowedMentions: { users: [userId] } });
}

/**
 * A failure is private (see replyPrivately: the public "thinking…" or progress reply is removed). If Discord
 * refuses the private answer, the reply itself shows the failure; once the token is spent, the channel does.
 */
async function sendFailure(interaction: GenerationInteraction, embed: EmbedBuilder, deadline: number): Promise<void> {
	if (Date.now() < deadline) {
		try {
			await replyPrivately(interaction, [embed], { replacesProgress: true });
			return;
		} catch (error) {
			if (!isReplyGone(error) && !isExpiredInteraction(error)) {
				await interaction.editReply({ content: '', embeds: [embed], components: [], files: [] });
				return;
			}
		}
	}
	await sendToChannel(interaction, {
		content: `<@${interaction.user.id}>`,
		embeds: [embed],
		allowedMentions: { users: [interaction.user.id] }
	});
}

async function sendToChannel(interaction: GenerationInteraction, payload: MessageCreateOptions): Promise<void> {
	const channel = interaction.channel;
	if (channel?.isSendable()) {
		await channel.send(payload);
		return;
	}
	container.logger.warn(
		`A result for ${interaction.user.id} could not be delivered: the interaction expired and the channel cannot be written to.`
	);
}

/**
 * A job that starts from the image attached to a slash command: the attachment's declared type and size are
 * checked before anything is downloaded (a refusal is private), then the download happens inside the deferred
 * reply, and `toJob` turns the bytes into the job.
 */
export async function replyWithAttachmentJob(
	interaction: ChatInputCommandInteraction,
	toJob: (image: Buffer) => JobInput
): Promise<unknown> {
	const attachment = interaction.options.getAttachment('image', true);
	const { maxInputMb, maxInputMegapixels } = container.generator.options;
	const limits = { maxBytes: mbToBytes(maxInputMb), maxPixels: maxInputMegapixels * 1e6 };
	const declared = checkDeclaredImage(attachment, limits);
	if (!declared.ok) return interaction.reply({ embeds: [buildFailureEmbed(declared)], flags: MessageFlags.Ephemeral });
	return replyWithJob(interaction, async () => {
		const image = await downloadAttachment(attachment, limits.maxBytes);
		return image.ok ? toJob(image.data) : image;
	});
}
