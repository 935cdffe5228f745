/**
 * Assertions for the chat integration tests: coded refusals, pushes a client received, and the raw
 * row counts behind the Storage interface (so "changes nothing" is checked on the database itself).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { SecureChatClient } from '../../src/client/client.js';
import { SecureChatError, type ErrorCode } from '../../src/errors.js';
import type { AppMessage } from '../../src/protocol/types.js';
import { openDriverForAdmin } from '../../src/storage/index.js';

/** Awaits a request that must fail with `code` (and, when given, `reason`); returns the error. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode, reason?: string): Promise<SecureChatError> {
  try {
    const result = await promise;
    assert.fail(`expected ${code}, got success: ${JSON.stringify(result)}`);
  } catch (err) {
    if (!(err instanceof SecureChatError)) throw err;
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (reason !== undefined) assert.equal(err.reason, reason);
    return err;
  }
}

/** Records every push of `type` a client receives, from now on. */
export class PushLog {
  readonly items: { msg: AppMessage; data: Buffer | undefined }[] = [];
  private waiters: { pred: (m: AppMessage) => boolean; resolve: (m: AppMessage) => void }[] = [];

  constructor(client: SecureChatClient, type: string) {
    client.onPush(type, (msg: AppMessage, data?: Buffer) => {
      this.items.push({ msg, data });
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
  }

  get messages(): AppMessage[] {
    return this.items.map((i) => i.msg);
  }

  /** The first push (already received or still to come) that matches. */
  waitFor(pred: (m: AppMessage) => boolean = () => true, timeoutMs = 5000): Promise<AppMessage> {
    const seen = this.items.find((i) => pred(i.msg));
    if (seen) return Promise.resolve(seen.msg);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching push within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  clear(): void {
    this.items.length = 0;
  }
}

/** Row count of a table, straight from the database behind `dbUrl`. */
export async function countRows(dbUrl: string, table: 'files' | 'messages' | 'conversations' | 'conversation_members'): Promise<number> {
  const driver = openDriverForAdmin(dbUrl);
  try {
    const rows = await driver.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`);
    return Number(rows[0].n);
  } finally {
    await driver.close();
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
