import sqlite3 from 'sqlite3';

export type SqlRow = Record<string, unknown>;
/** Values for a statement's `$name` parameters; more may be given than it uses (only its own are bound). */
export type SqlParameters = Readonly<Record<string, unknown>>;

/** A statement compiled once and run many times: most of a small query's cost is compiling it. */
export interface PreparedStatement {
	all(parameters?: SqlParameters): Promise<SqlRow[]>;
}

/**
 * A thin promise wrapper over one node-sqlite3 connection. Parameters are named (`$user`, `$day`): statements
 * that share SQL fragments cannot disagree on what a position means. Statements prepared here are compiled
 * once; node-sqlite3 queues concurrent runs of one statement, so they are safe to share between requests.
 */
export class SqliteConnection {
	readonly #database: sqlite3.Database;
	readonly #statements: sqlite3.Statement[] = [];

	private constructor(database: sqlite3.Database) {
		this.#database = database;
	}

	public static open(file: string, busyTimeoutMs: number, mode = sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE): Promise<SqliteConnection> {
		return new Promise((resolve, reject) => {
			const database = new sqlite3.Database(file, mode, (error) => {
				if (error) return reject(error);
				// Wait this long for another connection's (or process's) write lock instead of failing at once.
				database.configure('busyTimeout', busyTimeoutMs);
				resolve(new SqliteConnection(database));
			});
		});
	}

	/**
	 * Compiles `sql` into `copies` statements used in turn. node-sqlite3 runs one statement object at a
	 * time, so with a single copy concurrent requests queue behind each other in JavaScript; a few copies
	 * keep the connection's worker busy while the next request is being handed over.
	 */
	public prepare(sql: string, copies = 1): PreparedStatement {
		const names = parameterNames(sql);
		const statements = Array.from({ length: copies }, () => this.#database.prepare(sql));
		this.#statements.push(...statements);
		let next = 0;
		return {
			all: (parameters = {}) => {
				const statement = statements[next] as sqlite3.Statement;
				next = (next + 1) % statements.length;
				const bound = bind(names, parameters);
				return new Promise((resolve, reject) =>
					statement.all(bound, (error: Error | null, rows: SqlRow[]) => (error ? reject(error) : resolve(rows)))
				);
			}
		};
	}

	/** Runs a one-off statement (compiled for this call only). */
	public all(sql: string, parameters: SqlParameters = {}): Promise<SqlRow[]> {
		const bound = bind(parameterNames(sql), parameters);
		return new Promise((resolve, reject) =>
			this.#database.all(sql, bound, (error: Error | null, rows: SqlRow[]) => (error ? reject(error) : resolve(rows)))
		);
	}

	/** Runs a script of several statements without parameters (schema, pragmas, BEGIN/COMMIT). */
	public exec(script: string): Promise<void> {
		return new Promise((resolve, reject) => this.#database.exec(script, (error) => (error ? reject(error) : resolve())));
	}

	public async close(): Promise<void> {
		await Promise.all(this.#statements.splice(0).map((statement) => new Promise<void>((resolve) => statement.finalize(() => resolve()))));
		await new Promise<void>((resolve, reject) => this.#database.close((error) => (error ? reject(error) : resolve())));
	}
}

/** The distinct `$name` parameters of a statement. */
function parameterNames(sql: string): string[] {
	return [...new Set(sql.match(/\$[A-Za-z][A-Za-z0-9]*/g) ?? [])];
}

/** Only the statement's own parameters, each one required: a missing value is a bug, caught here rather than bound as NULL. */
function bind(names: readonly string[], parameters: SqlParameters): Record<string, unknown> {
	const bound: Record<string, unknown> = {};
	for (const name of names) {
		const value = parameters[name.slice(1)];
		if (value === undefined) throw new TypeError(`SQL parameter ${name} has no value`);
		bound[name] = typeof value === 'boolean' ? (value ? 1 : 0) : value;
	}
	return bound;
}
