import type { QuotaRule } from '../StorageManager.js';
import { QuotaPrecondition } from './QuotaPrecondition.js';

/** Denies when one more image would not fit in the caller's storage quota. */
export class UserStoragePrecondition extends QuotaPrecondition {
	protected readonly rule: QuotaRule = 'user';
}
