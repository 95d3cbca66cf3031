import type { APIAttachment, APIEmbed } from 'discord.js';
import type { DiscordState } from './discordState.js';
import { attachment, snowflake } from './payloads.js';
import type { UploadedFile } from './requestBody.js';

/** The message fields of a create or edit body (a callback's `data`, a webhook's or channel's body). */
export interface MessageBody {
	content?: string | null;
	embeds?: APIEmbed[] | null;
	components?: unknown[] | null;
	attachments?: { id: string | number; filename?: string; description?: string }[] | null;
	flags?: number | null;
}

/** Message flags (Discord's "Message Flags"). */
export const MessageFlag = { Ephemeral: 1 << 6, Loading: 1 << 7 } as const;

/** Whether a new message would be empty: Discord refuses those (50006). */
export function isEmptyMessage(body: MessageBody, files: UploadedFile[]): boolean {
	return !body.content && !(body.embeds?.length ?? 0) && !(body.components?.length ?? 0) && files.length === 0;
}

/** The largest uploaded file, to check against the upload limit (413 when over it). */
export function largestFile(files: UploadedFile[]): number {
	return files.reduce((largest, file) => Math.max(largest, file.data.byteLength), 0);
}

/**
 * The attachments a message ends up with. `attachments` in the body lists what to keep: an existing
 * attachment by its id, or a new upload by the index `n` of its `files[n]` part. Without that list, an
 * edit keeps what the message had and adds the uploads.
 */
export function resolveAttachments(
	state: DiscordState,
	baseUrl: string,
	channelId: string,
	body: MessageBody,
	files: UploadedFile[],
	existing: APIAttachment[],
	ephemeral: boolean
): APIAttachment[] {
	const upload = (file: UploadedFile, fields: { filename?: string; description?: string } = {}): APIAttachment => {
		const id = snowflake();
		const filename = fields.filename ?? file.name;
		const path = state.storeFile(channelId, id, filename, file.data, file.contentType);
		return attachment(id, filename, file.data, `${baseUrl}${path}`, {
			contentType: file.contentType,
			...(fields.description ? { description: fields.description } : {}),
			ephemeral
		});
	};
	const fileAt = (index: string) => files.find((file) => file.field === `files[${index}]`);
	if (!body.attachments) return [...existing, ...files.map((file) => upload(file))];
	const kept: APIAttachment[] = [];
	for (const wanted of body.attachments) {
		const id = String(wanted.id);
		const old = existing.find((candidate) => candidate.id === id);
		if (old) kept.push(old);
		else {
			const file = fileAt(id);
			if (file) kept.push(upload(file, wanted));
		}
	}
	return kept;
}
