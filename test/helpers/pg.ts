import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Fresh, empty databases on the test PostgreSQL server (MAPVAULT_TEST_PG_URL, whose role may
 * create databases), one per test, dropped by `dropAll`.
 */
export class PgDatabases {
  private readonly created: string[] = [];

  constructor(private readonly serverUrl: string) {}

  /** The URL of a new empty database. */
  async create(): Promise<string> {
    const name = `mapvault_test_${randomBytes(6).toString('hex')}`;
    await this.admin(`CREATE DATABASE ${name}`);
    this.created.push(name);
    const url = new URL(this.serverUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  async admin(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: this.serverUrl });
    await client.connect();
    try {
      return await client.query(sql, params);
    } finally {
      await client.end();
    }
  }

  async dropAll(): Promise<void> {
    for (const name of this.created.splice(0)) await this.admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}
