import type { APIMessage } from 'discord.js';
import { DiscordErrors, type DiscordError } from './discordErrors.js';
import type { InteractionRecord } from './discordState.js';
import { isEmptyMessage, largestFile, MessageFlag, resolveAttachments, type MessageBody } from './messageBodies.js';
import { snowflake, type MessageFields } from './payloads.js';
import type { UploadedFile } from './requestBody.js';
import type { Route, RouteAnswer, RouteContext, RouteEnvironment } from './restServer.js';

/** Interaction callback types (Discord's "Interaction Callback Type"). */
export const CallbackType = {
	ChannelMessageWithSource: 4,
	DeferredChannelMessageWithSource: 5,
	DeferredUpdateMessage: 6,
	UpdateMessage: 7,
	ApplicationCommandAutocompleteResult: 8,
	Modal: 9
} as const;

/** Interaction types (Discord's "Interaction Type"). */
export const InteractionKind = { ApplicationCommand: 2, MessageComponent: 3, Autocomplete: 4, ModalSubmit: 5 } as const;

/** Which callbacks each kind of interaction may answer with. */
const ALLOWED_CALLBACKS: Record<number, number[]> = {
	[InteractionKind.ApplicationCommand]: [4, 5, 9],
	[InteractionKind.MessageComponent]: [4, 5, 6, 7, 9],
	[InteractionKind.Autocomplete]: [8],
	[InteractionKind.ModalSubmit]: [4, 5, 6, 7]
};

/**
 * Interaction callbacks and the interaction webhook (the reply's edits, follow-ups, deletion), with
 * Discord's rules: a callback within 3 s and only one; the token usable for 15 minutes after the
 * interaction; a follow-up sent while a deferral still shows "thinking…" edits that message instead of
 * creating one (ephemeral flag ignored), as Discord documents for backwards compatibility.
 */
export function interactionRoutes(env: RouteEnvironment): Route[] {
	const { state, recorder } = env;
	const byToken = (params: Record<string, string>) => recorder.interactionByToken(params.token!);

	const tokenExpired = (record: InteractionRecord) => record.expired || Date.now() - record.createdAt > env.tokenLifetimeMs;

	/** The interaction a webhook call may act for, or the error Discord gives. */
	const webhookInteraction = (params: Record<string, string>): InteractionRecord | DiscordError => {
		const record = state.interactionsByToken.get(params.token!);
		if (!record || params.applicationId !== state.application.id) return DiscordErrors.unknownWebhook();
		if (tokenExpired(record)) return DiscordErrors.invalidWebhookToken();
		// Discord makes the interaction's webhook when the interaction is acknowledged.
		if (record.acknowledgedWith === null) return DiscordErrors.unknownWebhook();
		return record;
	};

	const fieldsOf = (
		record: InteractionRecord,
		body: MessageBody,
		files: UploadedFile[],
		base: { id: string; existing?: APIMessage; flags: number }
	): MessageFields => {
		const existing = base.existing;
		const ephemeral = (base.flags & MessageFlag.Ephemeral) !== 0;
		const channelId = existing?.channel_id ?? record.channelId;
		return {
			id: base.id,
			channelId,
			guildId: record.guildId,
			author: state.bot,
			content: body.content ?? existing?.content ?? '',
			embeds: body.embeds ?? existing?.embeds ?? [],
			components: body.components ?? existing?.components ?? [],
			attachments: resolveAttachments(state, env.baseUrl(), channelId, body, files, existing?.attachments ?? [], ephemeral),
			flags: base.flags,
			webhookId: state.application.id,
			applicationId: state.application.id,
			interaction: { id: record.id, type: record.type, user: record.user, name: record.name, guildId: record.guildId }
		};
	};

	/** The message an interaction's `@original` or a follow-up id names, if it belongs to this interaction. */
	const messageOf = (record: InteractionRecord, messageId: string) => {
		const id = messageId === '@original' ? record.originalMessageId : record.followUpIds.has(messageId) ? messageId : null;
		return id ? state.messages.get(id) : undefined;
	};

	const edit = (record: InteractionRecord, messageId: string, body: MessageBody, files: UploadedFile[]): RouteAnswer | DiscordError => {
		const stored = messageOf(record, messageId);
		if (!stored) return DiscordErrors.unknownMessage();
		if (largestFile(files) > record.attachmentSizeLimit) return DiscordErrors.entityTooLarge();
		// An edit cannot change a message's ephemeral state; it ends a deferral's "thinking…".
		const flags = stored.message.flags! & ~MessageFlag.Loading;
		const edited = state.editMessage(
			stored.message.id,
			fieldsOf(record, body, files, { id: stored.message.id, existing: stored.message, flags })
		);
		return { status: 200, body: edited };
	};

	/** A route of the interaction's webhook (`/webhooks/:applicationId/:token...`): `handle` runs once the token is usable. */
	const webhookRoute = (
		method: Route['method'],
		suffix: string,
		handle: (record: InteractionRecord, context: RouteContext) => RouteAnswer | DiscordError
	): Route => ({
		method,
		path: `/webhooks/:applicationId/:token${suffix}`,
		auth: false,
		interactionOf: byToken,
		handle: (context) => {
			const record = webhookInteraction(context.params);
			return 'status' in record ? record : handle(record, context);
		}
	});

	return [
		{
			method: 'POST',
			path: '/interactions/:id/:token/callback',
			auth: false,
			interactionOf: (params) => recorder.interaction(params.id!),
			handle: ({ params, query, body }) => {
				const record = state.interactions.get(params.id!);
				if (!record || record.token !== params.token) return DiscordErrors.unknownInteraction();
				if (record.acknowledgedWith !== null) return DiscordErrors.alreadyAcknowledged();
				if (tokenExpired(record) || Date.now() - record.createdAt > env.acknowledgeWithinMs) return DiscordErrors.unknownInteraction();
				const callback = (body.json ?? {}) as { type?: number; data?: MessageBody & { choices?: unknown[] } };
				if (!ALLOWED_CALLBACKS[record.type]?.includes(callback.type ?? -1)) {
					return DiscordErrors.invalidFormBody({
						type: { _errors: [{ code: 'INTERACTION_CALLBACK_TYPE_INVALID', message: 'Invalid callback type' }] }
					});
				}
				const data = callback.data ?? {};
				if (callback.type === CallbackType.ChannelMessageWithSource && isEmptyMessage(data, body.files))
					return DiscordErrors.emptyMessage();
				if (largestFile(body.files) > record.attachmentSizeLimit) return DiscordErrors.entityTooLarge();

				record.acknowledgedWith = callback.type!;
				let message: APIMessage | null = null;
				if (callback.type === CallbackType.ChannelMessageWithSource || callback.type === CallbackType.DeferredChannelMessageWithSource) {
					const deferred = callback.type === CallbackType.DeferredChannelMessageWithSource;
					const flags = ((data.flags ?? 0) & MessageFlag.Ephemeral) | (deferred ? MessageFlag.Loading : 0);
					const id = snowflake();
					message = state.storeMessage(fieldsOf(record, deferred ? {} : data, deferred ? [] : body.files, { id, flags }), record.id);
					record.originalMessageId = id;
				} else {
					// A component's deferred update or update acts on the message the component sits on.
					record.originalMessageId = record.sourceMessageId;
					const stored = record.sourceMessageId ? state.messages.get(record.sourceMessageId) : undefined;
					if (callback.type === CallbackType.UpdateMessage && stored) {
						const fields = fieldsOf(record, data, body.files, {
							id: stored.message.id,
							existing: stored.message,
							flags: stored.message.flags ?? 0
						});
						message = state.editMessage(stored.message.id, fields);
					}
				}
				if (query.get('with_response') !== 'true') return { status: 204 };
				return {
					status: 200,
					body: {
						interaction: {
							id: record.id,
							type: record.type,
							...(message
								? {
										response_message_id: message.id,
										response_message_loading: ((message.flags ?? 0) & MessageFlag.Loading) !== 0,
										response_message_ephemeral: ((message.flags ?? 0) & MessageFlag.Ephemeral) !== 0
									}
								: {})
						},
						...(message ? { resource: { type: callback.type, message } } : { resource: { type: callback.type } })
					}
				};
			}
		},
		webhookRoute('GET', '/messages/:messageId', (record, { params }) => {
			const stored = messageOf(record, params.messageId!);
			return stored ? { status: 200, body: stored.message } : DiscordErrors.unknownMessage();
		}),
		webhookRoute('PATCH', '/messages/:messageId', (record, { params, body }) =>
			edit(record, params.messageId!, (body.json ?? {}) as MessageBody, body.files)
		),
		webhookRoute('DELETE', '/messages/:messageId', (record, { params }) => {
			const stored = messageOf(record, params.messageId!);
			if (!stored) return DiscordErrors.unknownMessage();
			state.messages.delete(stored.message.id);
			if (stored.message.id === record.originalMessageId) record.originalMessageId = null;
			else record.followUpIds.delete(stored.message.id);
			return { status: 204 };
		}),
		webhookRoute('POST', '', (record, { body }) => {
			const data = (body.json ?? {}) as MessageBody;
			if (isEmptyMessage(data, body.files)) return DiscordErrors.emptyMessage();
			if (largestFile(body.files) > record.attachmentSizeLimit) return DiscordErrors.entityTooLarge();
			const original = record.originalMessageId ? state.messages.get(record.originalMessageId) : undefined;
			if (original && (original.message.flags ?? 0) & MessageFlag.Loading) return edit(record, '@original', data, body.files);
			const id = snowflake();
			const created = state.storeMessage(
				fieldsOf(record, data, body.files, { id, flags: (data.flags ?? 0) & MessageFlag.Ephemeral }),
				record.id
			);
			record.followUpIds.add(id);
			// Interaction follow-ups always answer with the message (`wait` is implied).
			return { status: 200, body: created };
		})
	];
}
