/** A throwaway P-256 PKI for one benchmark run, shared by our server and the Node TLS baseline. */
import 'reflect-metadata';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCertificates } from '../../src/pki/generate.js';
import { readPemCertificates, readPrivateKey } from '../../src/pki/pem.js';
import type { TrustStore } from '../../src/pki/trust-store.js';
import type { LocalIdentity } from '../../src/protocol/types.js';
import { loadTrust } from '../../src/server/start.js';

export interface BenchPki {
  dir: string;
  trust: TrustStore;
  identity(user: string): LocalIdentity;
  /** PEM files, for the Node TLS client. */
  pem(user: string): { cert: string; key: string; ca: string };
}

export function benchUser(i: number): string {
  return `u${String(i).padStart(3, '0')}`;
}

export async function makeBenchPki(userCount: number): Promise<BenchPki> {
  const dir = mkdtempSync(join(tmpdir(), 'securechat-bench-pki-'));
  const users = Array.from({ length: userCount }, (_, i) => benchUser(i));
  await ensureCertificates({ dir, users, keyType: 'p256' });
  const trust = loadTrust(dir).trust;
  const cache = new Map<string, LocalIdentity>();
  const ca = readFileSync(join(dir, 'root_ca.pem'), 'utf8');
  return {
    dir,
    trust,
    identity(user) {
      let id = cache.get(user);
      if (!id) {
        id = {
          chain: readPemCertificates(readFileSync(join(dir, `${user}_cert.pem`), 'utf8')),
          privateKey: readPrivateKey(readFileSync(join(dir, `${user}_key.pem`), 'utf8')),
        };
        cache.set(user, id);
      }
      return id;
    },
    pem(user) {
      return { cert: readFileSync(join(dir, `${user}_cert.pem`), 'utf8'), key: readFileSync(join(dir, `${user}_key.pem`), 'utf8'), ca };
    },
  };
}
