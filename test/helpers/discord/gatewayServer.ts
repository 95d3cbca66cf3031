import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { DiscordState } from './discordState.js';
import type { Faults } from './faults.js';

/** Gateway opcodes (Discord's "Gateway Opcodes"). */
export const GatewayOp = {
	Dispatch: 0,
	Heartbeat: 1,
	Identify: 2,
	PresenceUpdate: 3,
	VoiceStateUpdate: 4,
	Resume: 6,
	Reconnect: 7,
	RequestGuildMembers: 8,
	InvalidSession: 9,
	Hello: 10,
	HeartbeatAck: 11
} as const;

/** Gateway close codes (Discord's "Gateway Close Event Codes"). */
export const GatewayClose = {
	UnknownError: 4000,
	UnknownOpcode: 4001,
	DecodeError: 4002,
	NotAuthenticated: 4003,
	AuthenticationFailed: 4004,
	AlreadyAuthenticated: 4005,
	InvalidSeq: 4007,
	InvalidApiVersion: 4012,
	InvalidIntents: 4013,
	DisallowedIntents: 4014
} as const;

/** Privileged intents: GuildMembers, GuildPresences, MessageContent. */
const PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15);
/** Every intent Discord defines (bits 0-25, not all used): others are invalid (4013). */
const KNOWN_INTENTS = (1 << 26) - 1;

export interface RecordedIdentify {
	at: number;
	date: Date;
	tokenAccepted: boolean;
	intents: number;
	shard: [number, number] | null;
	properties: Record<string, unknown>;
	/** The close code the stand-in answered with, or null when it sent READY. */
	closedWith: number | null;
}

export interface RecordedResume {
	at: number;
	sessionId: string;
	seq: number;
	/** Whether the session resumed (RESUMED and the missed events) or was refused (INVALID_SESSION). */
	resumed: boolean;
}

interface Session {
	id: string;
	sequence: number;
	/** Sent events, for a resume to replay what a dropped connection missed. */
	events: { s: number; t: string; d: unknown }[];
	socket: WebSocket | null;
	/** Set when the session became unusable (closed normally, or invalidated by a test). */
	ended: boolean;
}

interface Connection {
	socket: WebSocket;
	session: Session | null;
	/** Set when the stand-in closed the connection (a refusal or a test's disconnect). */
	closedByStandIn: boolean;
}

export interface GatewayOptions {
	state: DiscordState;
	faults: Faults;
	token: string;
	heartbeatIntervalMs: number;
	/** Privileged intents enabled in the Developer Portal (bits); others make IDENTIFY fail with 4014. */
	privilegedIntents: number;
	/** `ws://127.0.0.1:<port>/gateway` once the server listens (READY's resume_gateway_url). */
	url: () => string;
}

/** Replays kept per session for a resume: enough for any test, bounded for a benchmark. */
const KEPT_EVENTS = 5000;

/**
 * Discord's gateway (v10, JSON encoding, no compression) over a real websocket: HELLO with the heartbeat
 * interval, heartbeat ACKs, IDENTIFY checked (token, intents) then READY with the servers as unavailable and
 * a GUILD_CREATE for each, RESUME with the missed events replayed (or INVALID_SESSION), and dispatches.
 */
export class GatewayServer {
	public readonly identifies: RecordedIdentify[] = [];
	public readonly resumes: RecordedResume[] = [];
	/** Every closed connection: its code and who closed it, in order. */
	public readonly closes: { code: number; by: 'client' | 'stand-in'; at: number }[] = [];
	readonly #options: GatewayOptions;
	readonly #wss = new WebSocketServer({ noServer: true });
	readonly #connections = new Set<Connection>();
	readonly #sessions = new Map<string, Session>();
	readonly #readyWaiters = new Set<() => void>();

	public constructor(options: GatewayOptions) {
		this.#options = options;
	}

	/** How many sessions have started (for `session_start_limit.remaining`). */
	public get sessionsStarted(): number {
		return this.#sessions.size;
	}

	/** Sessions with an open connection. */
	public get connectedSessions(): number {
		return [...this.#sessions.values()].filter((session) => session.socket !== null && !session.ended).length;
	}

	public handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
		const url = new URL(request.url ?? '/', 'http://127.0.0.1');
		if (url.pathname !== '/gateway') {
			socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
			return;
		}
		this.#wss.handleUpgrade(request, socket, head, (ws) => this.#open(ws, url.searchParams));
	};

	/** Resolves once a session is ready (READY and every GUILD_CREATE sent). */
	public waitForSession(timeoutMs = 15_000): Promise<void> {
		if (this.connectedSessions > 0) return Promise.resolve();
		return new Promise((resolve, reject) => {
			const done = () => {
				clearTimeout(timer);
				this.#readyWaiters.delete(done);
				resolve();
			};
			const timer = setTimeout(() => {
				this.#readyWaiters.delete(done);
				reject(
					new Error(`No gateway session within ${timeoutMs} ms (identifies: ${JSON.stringify(this.identifies.map((i) => i.closedWith))})`)
				);
			}, timeoutMs);
			this.#readyWaiters.add(done);
		});
	}

	/**
	 * Sends a dispatch event on the newest connected session; returns `performance.now()` just before the
	 * frame was written. Throws when no bot is connected.
	 */
	public dispatch(type: string, data: unknown): number {
		const session = [...this.#sessions.values()].reverse().find((candidate) => candidate.socket && !candidate.ended);
		if (!session) throw new Error(`Cannot dispatch ${type}: no bot is connected to the gateway`);
		return this.#send(session, type, data);
	}

	/** Closes every open connection with `code` (4000 and similar: the client resumes; 1000: the session ends). */
	public disconnect(code: number = GatewayClose.UnknownError, reason = 'Stand-in disconnect'): void {
		for (const connection of this.#connections) this.#close(connection, code, reason);
	}

	/** Makes every session unresumable: a RESUME then gets INVALID_SESSION and the client identifies again. */
	public invalidateSessions(): void {
		for (const session of this.#sessions.values()) session.ended = true;
	}

	public async stop(): Promise<void> {
		for (const connection of this.#connections) connection.socket.terminate();
		this.#connections.clear();
		await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
	}

	#open(socket: WebSocket, query: URLSearchParams): void {
		const connection: Connection = { socket, session: null, closedByStandIn: false };
		this.#connections.add(connection);
		socket.on('close', (code) => {
			this.#connections.delete(connection);
			if (connection.session?.socket === socket) connection.session.socket = null;
			// A normal close ends the session; any other drop leaves it resumable.
			if (connection.session && (code === 1000 || code === 1001)) connection.session.ended = true;
			this.closes.push({ code, by: connection.closedByStandIn ? 'stand-in' : 'client', at: performance.now() });
		});
		socket.on('error', () => undefined);
		socket.on('message', (data, isBinary) => this.#receive(connection, data.toString(), isBinary));
		if (query.get('v') !== '10') {
			this.#close(connection, GatewayClose.InvalidApiVersion, 'Invalid API version.');
			return;
		}
		if (query.get('encoding') && query.get('encoding') !== 'json') {
			this.#close(connection, GatewayClose.DecodeError, 'Only JSON encoding is spoken here.');
			return;
		}
		this.#raw(socket, { op: GatewayOp.Hello, d: { heartbeat_interval: this.#options.heartbeatIntervalMs }, s: null, t: null });
	}

	#receive(connection: Connection, text: string, isBinary: boolean): void {
		let payload: { op?: number; d?: unknown };
		try {
			if (isBinary) throw new Error('binary');
			payload = JSON.parse(text) as { op?: number; d?: unknown };
		} catch {
			this.#close(connection, GatewayClose.DecodeError, 'Error while decoding payload.');
			return;
		}
		switch (payload.op) {
			case GatewayOp.Heartbeat:
				this.#raw(connection.socket, { op: GatewayOp.HeartbeatAck, d: null, s: null, t: null });
				return;
			case GatewayOp.Identify:
				this.#identify(connection, payload.d as IdentifyData);
				return;
			case GatewayOp.Resume:
				this.#resume(connection, payload.d as { token?: string; session_id?: string; seq?: number });
				return;
			case GatewayOp.PresenceUpdate:
			case GatewayOp.VoiceStateUpdate:
			case GatewayOp.RequestGuildMembers:
				if (!connection.session) this.#close(connection, GatewayClose.NotAuthenticated, 'Not authenticated.');
				return;
			default:
				this.#close(connection, GatewayClose.UnknownOpcode, 'Unknown opcode.');
		}
	}

	#identify(connection: Connection, data: IdentifyData): void {
		const { faults, token, privilegedIntents, state } = this.#options;
		const intents = Number(data?.intents ?? 0);
		const tokenAccepted = data?.token === token && !faults.rejectToken;
		const record: RecordedIdentify = {
			at: performance.now(),
			date: new Date(),
			tokenAccepted,
			intents,
			shard: Array.isArray(data?.shard) ? (data.shard as [number, number]) : null,
			properties: data?.properties ?? {},
			closedWith: null
		};
		this.identifies.push(record);
		const refuse = (code: number, reason: string) => {
			record.closedWith = code;
			this.#close(connection, code, reason);
		};
		if (connection.session) return refuse(GatewayClose.AlreadyAuthenticated, 'Already authenticated.');
		if (faults.closeIdentifyWith !== null) {
			const code = faults.closeIdentifyWith;
			faults.closeIdentifyWith = null;
			return refuse(code, 'Closed by a stand-in fault.');
		}
		if (!tokenAccepted) return refuse(GatewayClose.AuthenticationFailed, 'Authentication failed.');
		if (!Number.isInteger(intents) || intents < 0 || (intents & ~KNOWN_INTENTS) !== 0)
			return refuse(GatewayClose.InvalidIntents, 'Invalid intent(s).');
		if ((intents & PRIVILEGED_INTENTS & ~privilegedIntents) !== 0) return refuse(GatewayClose.DisallowedIntents, 'Disallowed intent(s).');

		const session: Session = { id: randomBytes(16).toString('hex'), sequence: 0, events: [], socket: connection.socket, ended: false };
		this.#sessions.set(session.id, session);
		connection.session = session;
		this.#send(session, 'READY', {
			v: 10,
			user: state.bot,
			guilds: [...state.guilds.keys()].map((id) => ({ id, unavailable: true })),
			session_id: session.id,
			resume_gateway_url: this.#options.url(),
			shard: record.shard ?? [0, 1],
			application: { id: state.application.id, flags: 0 },
			user_settings: {},
			private_channels: [],
			presences: [],
			relationships: [],
			guild_join_requests: [],
			geo_ordered_rtc_regions: [],
			auth: {}
		});
		for (const guild of state.guilds.values()) this.#send(session, 'GUILD_CREATE', state.guildCreate(guild));
		for (const waiter of [...this.#readyWaiters]) waiter();
	}

	#resume(connection: Connection, data: { token?: string; session_id?: string; seq?: number }): void {
		const session = data?.session_id ? this.#sessions.get(data.session_id) : undefined;
		const seq = Number(data?.seq ?? 0);
		const resumable =
			session && !session.ended && data.token === this.#options.token && !this.#options.faults.rejectToken && seq <= session.sequence;
		this.resumes.push({ at: performance.now(), sessionId: data?.session_id ?? '', seq, resumed: Boolean(resumable) });
		if (!resumable) {
			this.#raw(connection.socket, { op: GatewayOp.InvalidSession, d: false, s: null, t: null });
			return;
		}
		session.socket?.close(4000, 'Resumed elsewhere');
		session.socket = connection.socket;
		connection.session = session;
		for (const event of session.events.filter((candidate) => candidate.s > seq)) {
			this.#raw(connection.socket, { op: GatewayOp.Dispatch, ...event });
		}
		this.#send(session, 'RESUMED', {});
		for (const waiter of [...this.#readyWaiters]) waiter();
	}

	#send(session: Session, type: string, data: unknown): number {
		session.sequence += 1;
		const event = { s: session.sequence, t: type, d: data };
		session.events.push(event);
		if (session.events.length > KEPT_EVENTS) session.events.shift();
		const at = performance.now();
		if (session.socket) this.#raw(session.socket, { op: GatewayOp.Dispatch, ...event });
		return at;
	}

	#raw(socket: WebSocket, payload: object): void {
		if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(payload));
	}

	#close(connection: Connection, code: number, reason: string): void {
		connection.closedByStandIn = true;
		connection.socket.close(code, reason);
	}
}

interface IdentifyData {
	token?: string;
	intents?: number;
	shard?: unknown;
	properties?: Record<string, unknown>;
}
