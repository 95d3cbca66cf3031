import { container, type SapphireClient } from '@sapphire/framework';
import type { Logger } from 'pino';
import { settleJobReplies } from '../jobs/jobReply.js';
import { ExitCode } from '../../cli/exitCodes.js';

export interface ShutdownOptions {
	/** How long running jobs may take to finish before they are cancelled (and their quota released). */
	graceMs?: number;
	/** How long finished jobs' replies may take to reach Discord. */
	deliveryMs?: number;
	exit?: (code: number) => void;
}

/**
 * Stops the bot cleanly: no new jobs, running jobs finish (or are cancelled and refunded after the
 * grace period), their replies are delivered, then the gateway, the providers and the ledger are closed.
 * Resolves with the exit code; never throws.
 */
export async function shutdown(client: SapphireClient, logger: Logger, options: ShutdownOptions = {}): Promise<number> {
	let code: number = ExitCode.Ok;
	try {
		logger.info({ runningJobs: container.imageJobs.running }, 'Shutting down: not taking new jobs, finishing running ones');
		const jobs = await container.imageJobs.drain(options.graceMs ?? 60_000);
		const undelivered = await settleJobReplies(options.deliveryMs ?? 15_000);
		logger.info({ ...jobs, undelivered }, 'Jobs settled');
	} catch (error) {
		logger.error({ err: error }, 'Jobs did not settle cleanly');
		code = ExitCode.Failure;
	}
	for (const [name, close] of [
		['gateway', () => client.destroy()],
		['generator', () => container.generator.close()],
		['storage', () => ('storage' in container ? container.storage.close() : undefined)]
	] as const) {
		try {
			await close();
		} catch (error) {
			logger.error({ err: error }, `Could not close the ${name}`);
			code = ExitCode.Failure;
		}
	}
	logger.info('Stopped');
	return code;
}

/**
 * SIGINT / SIGTERM start a clean shutdown; a second signal stops at once (reservations of jobs cut short
 * expire on their own and the next start's reconcile releases them).
 */
export function handleShutdownSignals(client: SapphireClient, logger: Logger, options: ShutdownOptions = {}): void {
	const exit = options.exit ?? ((code: number) => process.exit(code));
	let stopping = false;
	const onSignal = (signal: NodeJS.Signals) => {
		if (stopping) {
			logger.warn({ signal }, 'Second signal: stopping now');
			exit(ExitCode.Failure);
			return;
		}
		stopping = true;
		logger.info({ signal }, 'Signal received');
		void shutdown(client, logger, options).then(exit);
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);
}
