import type { QuotaRule } from '../StorageManager.js';
import { QuotaPrecondition } from './QuotaPrecondition.js';

/** Denies when the caller's daily generation allowance is used up (in-flight jobs count). */
export class DailyLimitPrecondition extends QuotaPrecondition {
	protected readonly rule: QuotaRule = 'daily';
}
