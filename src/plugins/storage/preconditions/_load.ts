import { container } from '@sapphire/framework';
import { DailyLimitPrecondition } from './DailyLimit.js';
import { GlobalStoragePrecondition } from './GlobalStorage.js';
import { UserStoragePrecondition } from './UserStorage.js';

/**
 * Registers the quota preconditions as virtual pieces: loading them from a folder inside node_modules
 * goes wrong under the other module system, a piece handed to the store directly does not.
 */
export function loadQuotaPreconditions(): void {
	void container.stores.loadPiece({ store: 'preconditions', name: 'DailyLimit', piece: DailyLimitPrecondition });
	void container.stores.loadPiece({ store: 'preconditions', name: 'UserStorage', piece: UserStoragePrecondition });
	void container.stores.loadPiece({ store: 'preconditions', name: 'GlobalStorage', piece: GlobalStoragePrecondition });
}
