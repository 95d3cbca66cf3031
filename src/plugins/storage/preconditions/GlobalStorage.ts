import type { QuotaRule } from '../StorageManager.js';
import { QuotaPrecondition } from './QuotaPrecondition.js';

/** Denies when one more image would not fit under the bot's global storage cap. */
export class GlobalStoragePrecondition extends QuotaPrecondition {
	protected readonly rule: QuotaRule = 'global';
}
