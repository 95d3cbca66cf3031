import { BOT_PERMISSIONS, botPermissions, INVITE_SCOPES, inviteUrl } from './invite.js';

/** A server the bot is in, as the ready report names it. */
export interface ServerRef {
	id: string;
	name: string;
}

export interface ReportLine {
	level: 'info' | 'warn';
	message: string;
	details: Record<string, unknown>;
}

/** Servers named one by one in the log; a large bot gets a count and the first few. */
const LISTED_SERVERS = 10;

/**
 * What a bot owner needs to read once the bot is connected, besides the "Ready as" line: the link that adds the
 * bot to a server, the servers it is in, and where its slash commands are registered (warning about a
 * COMMAND_GUILD_IDS server the bot is not in: Discord refuses to register commands there).
 */
export function readyReport(input: {
	applicationId: string;
	servers: readonly ServerRef[];
	commandGuildIds: readonly string[];
}): ReportLine[] {
	const { applicationId, servers, commandGuildIds } = input;
	const url = inviteUrl(applicationId);
	const permissions = botPermissions().toString();
	const lines: ReportLine[] = [
		{
			level: 'info',
			message:
				`Invite link (scopes ${INVITE_SCOPES.join(', ')}; permissions ${permissions}: ` +
				`${BOT_PERMISSIONS.map((permission) => permission.label).join(', ')}): ${url}`,
			details: { inviteUrl: url, applicationId, scopes: [...INVITE_SCOPES], permissions }
		},
		serversLine(servers)
	];
	const known = new Set(servers.map((server) => server.id));
	const missing = commandGuildIds.filter((id) => !known.has(id));
	if (commandGuildIds.length === 0) {
		lines.push({
			level: 'info',
			message: 'Slash commands are registered globally (COMMAND_GUILD_IDS is empty): a change can take a while to show everywhere.',
			details: { commandScope: 'global' }
		});
	} else {
		lines.push({
			level: 'info',
			message: `Slash commands are registered in ${commandGuildIds.length === 1 ? 'server' : 'servers'} ${commandGuildIds.join(', ')} only (COMMAND_GUILD_IDS).`,
			details: { commandScope: 'guild', commandGuildIds: [...commandGuildIds] }
		});
	}
	if (missing.length > 0) {
		lines.push({
			level: 'warn',
			message:
				`COMMAND_GUILD_IDS names ${missing.length === 1 ? 'a server' : 'servers'} the bot is not in (${missing.join(', ')}): ` +
				'Discord will refuse to register the commands there. Add the bot with the invite link, or fix the id.',
			details: { missingGuildIds: missing }
		});
	}
	return lines;
}

function serversLine(servers: readonly ServerRef[]): ReportLine {
	if (servers.length === 0) {
		return {
			level: 'info',
			message: 'In no server yet: open the invite link above to add the bot to one.',
			details: { serverCount: 0 }
		};
	}
	const listed = servers.slice(0, LISTED_SERVERS).map((server) => `${server.name} (${server.id})`);
	const more = servers.length > LISTED_SERVERS ? `, and ${servers.length - LISTED_SERVERS} more` : '';
	return {
		level: 'info',
		message: `In ${servers.length} ${servers.length === 1 ? 'server' : 'servers'}: ${listed.join(', ')}${more}`,
		details: { serverCount: servers.length, servers: servers.slice(0, LISTED_SERVERS) }
	};
}
