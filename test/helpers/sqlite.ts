/** A fresh SQLite database file in its own temp directory, removed afterwards. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempSqlite {
  dir: string;
  path: string;
  url: string;
  dispose(): Promise<void>;
}

export function tempSqlite(prefix = 'securechat-db-'): TempSqlite {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'nested', 'securechat.db');
  return {
    dir,
    path,
    url: `sqlite:${path}`,
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
