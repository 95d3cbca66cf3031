import { secretMasker } from '../plugins/shared/maskSecrets.js';

/** Something text can be written to: process.stdout / process.stderr, or a buffer in tests. */
export interface TextSink {
	write(text: string): unknown;
}

/** Everything the command-line tool touches outside itself, so it runs the same in a process or in a test. */
export interface CliIo {
	/** Results: human text, or exactly one JSON object with --json. */
	stdout: TextSink;
	/** Errors, warnings, logs (readable lines on a terminal, JSON lines otherwise) and, on a terminal, progress. */
	stderr: TextSink;
	/** The environment; `.env` in `cwd` fills in what it does not set (as the bot reads it). */
	env: NodeJS.ProcessEnv;
	/** Where `.env` is read from and a relative STORAGE_ROOT resolves. */
	cwd: string;
	/** Whether stderr is a terminal: progress is shown only then. */
	isTTY: boolean;
	/** Aborted on Ctrl+C / SIGTERM: a running generation is cancelled and its quota refunded. */
	signal?: AbortSignal;
}

/** A sink that masks the given secrets wherever they appear (last line of defence; nothing should print them). */
export function scrubbed(sink: TextSink, secrets: readonly string[]): TextSink {
	if (!secrets.some((secret) => secret.length > 0)) return sink;
	const mask = secretMasker(secrets);
	return { write: (text: string) => sink.write(mask(text)) };
}
