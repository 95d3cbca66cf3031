import type { APIApplicationCommand } from 'discord.js';
import { DiscordErrors, type DiscordError } from './discordErrors.js';
import { snowflake } from './payloads.js';
import type { Route, RouteEnvironment } from './restServer.js';

/** Discord's daily session-start allowance for a small bot. */
const SESSION_START_TOTAL = 1000;

/** A chat-input command's or option's name: 1-32 lowercase letters (any script), digits, `-`, `_` and `'` (Discord's pattern). */
const COMMAND_NAME = /^[-_'\p{Ll}\p{N}]{1,32}$/u;

interface CommandBody {
	name?: string;
	description?: string;
	type?: number;
	options?: OptionBody[];
	default_member_permissions?: string | null;
	dm_permission?: boolean;
	contexts?: number[] | null;
	integration_types?: number[];
	nsfw?: boolean;
	name_localizations?: Record<string, string> | null;
	description_localizations?: Record<string, string> | null;
}

interface OptionBody {
	name?: string;
	description?: string;
	type?: number;
	required?: boolean;
	choices?: unknown[];
	options?: OptionBody[];
}

/**
 * The routes a bot calls to start and to register its commands: `GET /gateway/bot`, `GET /users/@me`,
 * `GET /applications/@me`, and the global and guild application-command routes (list, bulk overwrite,
 * create, get, edit, delete). Commands are validated as Discord validates them (names, descriptions,
 * counts) and keep their id across overwrites when their name stays.
 */
export function applicationRoutes(env: RouteEnvironment): Route[] {
	const { state } = env;
	const scopeOf = (params: Record<string, string>) => params.guildId ?? 'global';
	const checkApplication = (params: Record<string, string>): DiscordError | null => {
		if (params.applicationId !== state.application.id) return { status: 403, body: { code: 50001, message: 'Missing Access' } };
		if (params.guildId && !state.guilds.has(params.guildId)) return { status: 403, body: { code: 50001, message: 'Missing Access' } };
		return null;
	};

	const build = (body: CommandBody, scope: string, existing?: APIApplicationCommand): APIApplicationCommand =>
		({
			id: existing?.id ?? snowflake(),
			application_id: state.application.id,
			version: snowflake(),
			type: body.type ?? 1,
			name: body.name!,
			name_localizations: body.name_localizations ?? null,
			description: body.description ?? '',
			description_localizations: body.description_localizations ?? null,
			...(scope === 'global' ? { dm_permission: body.dm_permission ?? true } : { guild_id: scope }),
			default_member_permissions: body.default_member_permissions ?? null,
			contexts: body.contexts ?? null,
			integration_types: body.integration_types ?? [0],
			nsfw: body.nsfw ?? false,
			...(body.options?.length ? { options: body.options } : {})
		}) as APIApplicationCommand;

	const commandRoutes = (prefix: string): Route[] => [
		{
			method: 'GET',
			path: `${prefix}/commands`,
			auth: true,
			handle: ({ params }) => checkApplication(params) ?? { status: 200, body: [...state.commandsIn(scopeOf(params)).values()] }
		},
		{
			method: 'PUT',
			path: `${prefix}/commands`,
			auth: true,
			handle: ({ params, body }) => {
				const denied = checkApplication(params);
				if (denied) return denied;
				const list = body.json as CommandBody[];
				if (!Array.isArray(list))
					return DiscordErrors.invalidFormBody({ _errors: [{ code: 'ARRAY_TYPE_CONVERT', message: 'Must be an array.' }] });
				const problems = Object.fromEntries(list.flatMap((command, index) => invalidCommand(command).map((errors) => [index, errors])));
				if (Object.keys(problems).length > 0) return DiscordErrors.invalidFormBody(problems);
				const commands = state.commandsIn(scopeOf(params));
				const next = new Map(list.map((command) => [command.name!, build(command, scopeOf(params), commands.get(command.name!))]));
				commands.clear();
				for (const [name, command] of next) commands.set(name, command);
				return { status: 200, body: [...commands.values()] };
			}
		},
		{
			method: 'POST',
			path: `${prefix}/commands`,
			auth: true,
			handle: ({ params, body }) => {
				const denied = checkApplication(params);
				if (denied) return denied;
				const command = (body.json ?? {}) as CommandBody;
				const problems = invalidCommand(command);
				if (problems.length > 0) return DiscordErrors.invalidFormBody(problems[0]);
				const commands = state.commandsIn(scopeOf(params));
				const existing = commands.get(command.name!);
				const created = build(command, scopeOf(params), existing);
				commands.set(created.name, created);
				return { status: existing ? 200 : 201, body: created };
			}
		},
		{
			method: 'GET',
			path: `${prefix}/commands/:commandId`,
			auth: true,
			handle: ({ params }) => {
				const found = [...state.commandsIn(scopeOf(params)).values()].find((command) => command.id === params.commandId);
				return checkApplication(params) ?? (found ? { status: 200, body: found } : DiscordErrors.unknownApplicationCommand());
			}
		},
		{
			method: 'PATCH',
			path: `${prefix}/commands/:commandId`,
			auth: true,
			handle: ({ params, body }) => {
				const denied = checkApplication(params);
				if (denied) return denied;
				const commands = state.commandsIn(scopeOf(params));
				const found = [...commands.values()].find((command) => command.id === params.commandId);
				if (!found) return DiscordErrors.unknownApplicationCommand();
				const merged = { ...found, ...(body.json as CommandBody) } as CommandBody;
				const problems = invalidCommand(merged);
				if (problems.length > 0) return DiscordErrors.invalidFormBody(problems[0]);
				commands.delete(found.name);
				const edited = build(merged, scopeOf(params), found);
				commands.set(edited.name, edited);
				return { status: 200, body: edited };
			}
		},
		{
			method: 'DELETE',
			path: `${prefix}/commands/:commandId`,
			auth: true,
			handle: ({ params }) => {
				const denied = checkApplication(params);
				if (denied) return denied;
				const commands = state.commandsIn(scopeOf(params));
				const found = [...commands.values()].find((command) => command.id === params.commandId);
				if (!found) return DiscordErrors.unknownApplicationCommand();
				commands.delete(found.name);
				return { status: 204 };
			}
		}
	];

	return [
		{
			method: 'GET',
			path: '/gateway/bot',
			auth: true,
			handle: () => {
				const { url, sessionsStarted } = env.gateway();
				return {
					status: 200,
					body: {
						url,
						shards: 1,
						session_start_limit: {
							total: SESSION_START_TOTAL,
							remaining: Math.max(0, SESSION_START_TOTAL - sessionsStarted),
							reset_after: 86_400_000,
							max_concurrency: 1
						}
					}
				};
			}
		},
		{ method: 'GET', path: '/users/@me', auth: true, handle: () => ({ status: 200, body: state.bot }) },
		{ method: 'GET', path: '/applications/@me', auth: true, handle: () => ({ status: 200, body: state.applicationObject() }) },
		...commandRoutes('/applications/:applicationId'),
		...commandRoutes('/applications/:applicationId/guilds/:guildId')
	];
}

/** Discord's form errors for a command it would refuse (an empty list when it is fine). */
function invalidCommand(command: CommandBody): Record<string, unknown>[] {
	const errors: Record<string, unknown> = {};
	const fail = (path: string, code: string, message: string) => (errors[path] = { _errors: [{ code, message }] });
	const chatInput = (command.type ?? 1) === 1;
	if (
		typeof command.name !== 'string' ||
		!(chatInput ? COMMAND_NAME.test(command.name) : command.name.length >= 1 && command.name.length <= 32)
	) {
		fail('name', 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
	}
	if (chatInput && (typeof command.description !== 'string' || command.description.length < 1 || command.description.length > 100)) {
		fail('description', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
	}
	checkOptions(command.options ?? [], 'options', fail);
	return Object.keys(errors).length > 0 ? [errors] : [];
}

function checkOptions(options: OptionBody[], path: string, fail: (path: string, code: string, message: string) => void): void {
	if (options.length > 25) fail(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
	let optionalSeen = false;
	for (const [index, option] of options.entries()) {
		const at = `${path}.${index}`;
		if (typeof option.name !== 'string' || !COMMAND_NAME.test(option.name))
			fail(`${at}.name`, 'APPLICATION_COMMAND_INVALID_NAME', 'Option name is invalid');
		if (typeof option.description !== 'string' || option.description.length < 1 || option.description.length > 100) {
			fail(`${at}.description`, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
		}
		if ((option.choices?.length ?? 0) > 25) fail(`${at}.choices`, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
		const isSubcommand = option.type === 1 || option.type === 2;
		if (!isSubcommand) {
			if (option.required && optionalSeen)
				fail(
					`${at}.required`,
					'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
					'Required options must be placed before non-required options'
				);
			if (!option.required) optionalSeen = true;
		}
		checkOptions(option.options ?? [], `${at}.options`, fail);
	}
}
