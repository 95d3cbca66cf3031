/**
 * The storage cannot start as configured, and only its owner can fix it (a ledger that belongs to another
 * storage, a damaged ledger file). The message says what is wrong and what to do; the bot and the command-line
 * tool show it as a configuration error (exit code 2).
 */
export class StorageConfigError extends Error {
	public override readonly name = 'StorageConfigError';
}
