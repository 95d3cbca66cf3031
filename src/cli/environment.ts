import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from '../lib/config.js';
import type { CliIo } from './io.js';

/** The .env file the command reads: in its working directory, as the bot reads its own. */
export function dotEnvPathOf(io: Pick<CliIo, 'cwd'>): string {
	return resolve(io.cwd, '.env');
}

/**
 * The environment as the bot sees it: `.env` in the working directory fills in what the environment does not set,
 * and a relative STORAGE_ROOT resolves against that directory. An unreadable .env is a ConfigError.
 */
export function environmentOf(io: Pick<CliIo, 'cwd' | 'env'>): NodeJS.ProcessEnv {
	const path = dotEnvPathOf(io);
	let fromFile: NodeJS.Dict<string> = {};
	try {
		fromFile = parseEnv(readFileSync(path, 'utf8'));
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`Cannot read ${path}: ${(error as Error).message}`);
	}
	const env: NodeJS.ProcessEnv = { ...fromFile, ...io.env };
	const root = env.STORAGE_ROOT?.trim() ? env.STORAGE_ROOT.trim() : 'shared';
	if (!isAbsolute(root)) env.STORAGE_ROOT = resolve(io.cwd, root);
	return env;
}
