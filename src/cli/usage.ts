/** A mistake in how the command was called: printed with a hint, exit code 2. */
export class UsageError extends Error {
	public override readonly name = 'UsageError';
	/** `INVALID_NAME` for a malformed user or image id (the storage's own reason), `USAGE` otherwise. */
	public readonly reason: 'USAGE' | 'INVALID_NAME';

	public constructor(message: string, reason: 'USAGE' | 'INVALID_NAME' = 'USAGE') {
		super(message);
		this.reason = reason;
	}
}
