import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		include: ['test/**/*.test.ts'],
		environment: 'node',
		// Tests use real SQLite files and child processes: give slow machines room.
		testTimeout: 30_000,
		hookTimeout: 30_000,
		pool: 'forks'
	}
});
