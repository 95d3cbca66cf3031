import type { Failure } from '../plugins/shared/Failure.js';
import { ExitCode, exitCodeOf } from './exitCodes.js';

/** What a command produced: the exit code, the object --json prints, and the text printed otherwise. */
export interface Outcome {
	code: ExitCode;
	json: unknown;
	/** On stdout when the command succeeded, on stderr when it did not. */
	text: string;
}

export function succeeded(json: unknown, text: string): Outcome {
	return { code: ExitCode.Ok, json, text };
}

/** A service's failure value, printed as it is: `{ ok: false, reason, message, ... }`. */
export function failed(failure: Failure): Outcome {
	return { code: exitCodeOf(failure.reason), json: failure, text: `${failure.reason}: ${failure.message}` };
}
