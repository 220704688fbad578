import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.ts';
import { catalogContract } from './catalog.contract.ts';

catalogContract('SqliteCatalog', async () => new SqliteCatalog(join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db')));

test('SqliteCatalog: data survives reopening the file', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const a = new SqliteCatalog(file);
  await a.putApiKey({ keyHash: 'h', workspace: 'w', source: 'cli', createdAt: 1 });
  await a.close();
  const b = new SqliteCatalog(file);
  assert.equal((await b.findApiKey('h'))?.workspace, 'w');
  await b.close();
});
