/**
 * `npm run demo:bad-cert`: a throwaway PKI, a real server, and eight clients — one valid, five the
 * server must refuse, two that must refuse the server. Prints what each side said and a summary
 * table; exits 0 only if all eight behave.
 */
import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureChatClient } from '../src/client/client.js';
import { SecureChatError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import { initCa, issueCertificate, revokeCertificate } from '../src/pki/ca.js';
import { ensureCertificates } from '../src/pki/generate.js';
import { readPemCertificates, readPrivateKey } from '../src/pki/pem.js';
import { createChatServer } from '../src/server/app.js';
import type { SecureChatServer } from '../src/server/server.js';
import type { ChatServices } from '../src/server/services.js';
import { loadServerIdentity, loadTrust } from '../src/server/start.js';
import { openStorage } from '../src/storage/index.js';
import type { LocalIdentity } from '../src/protocol/types.js';

interface Case {
  name: string;
  /** Who must refuse: nobody (valid), the server, or the client. */
  refusedBy: 'none' | 'server' | 'client';
  expectedReason?: string;
  identity: LocalIdentity;
  serverPort: 'real' | 'rogue';
  serverName: string;
}

function identity(dir: string, cert: string, key = cert): LocalIdentity {
  return {
    chain: readPemCertificates(readFileSync(join(dir, `${cert}_cert.pem`), 'utf8')),
    privateKey: readPrivateKey(readFileSync(join(dir, `${key}_key.pem`), 'utf8')),
  };
}

async function startServer(pkiDir: string, dataDir: string, tag: string) {
  const storage = await openStorage(`sqlite:${join(dataDir, `${tag}.db`)}`);
  const { trust, crlFile } = loadTrust(pkiDir);
  const server = createChatServer({
    identity: loadServerIdentity(pkiDir),
    trust,
    ...(crlFile ? { crlFile } : {}),
    storage,
    log: silentLogger(),
  });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, storage, port };
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'securechat-demo-bad-cert-'));
  const pki = join(work, 'pki');
  const rogue = join(work, 'rogue');
  try {
    console.log(`Building a throwaway PKI in ${work}`);
    await ensureCertificates({ dir: pki, users: ['alice', 'mallory', 'revoked'] });
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
    await issueCertificate({ dir: pki, kind: 'client', name: 'expired', notBefore: tenDaysAgo, notAfter: '1d', now: tenDaysAgo });
    await revokeCertificate({ dir: pki, target: join(pki, 'revoked_cert.pem'), reason: 'keyCompromise' });
    // A second, unrelated CA: its certificates look fine but chain to nobody the other side trusts.
    await initCa({ dir: rogue, name: 'Rogue Root CA', unencrypted: true });
    await issueCertificate({ dir: rogue, kind: 'client', name: 'alice' });
    await issueCertificate({ dir: rogue, kind: 'server', name: 'localhost', certOut: join(rogue, 'server_cert.pem'), keyOut: join(rogue, 'server_key.pem') });

    const real = await startServer(pki, work, 'real');
    const fake = await startServer(rogue, work, 'rogue');
    const failures: { server: string[] } = { server: [] };
    const onFail = (err: SecureChatError): void => {
      console.log(`  [Server] Certificate validation failed: ${err.reason ?? err.code}`);
      failures.server.push(err.reason ?? err.code);
    };
    (real.server as SecureChatServer<ChatServices>).on('handshakeFailed', onFail);

    const trust = loadTrust(pki).trust;
    const cases: Case[] = [
      { name: '1. valid client certificate', refusedBy: 'none', identity: identity(pki, 'alice'), serverPort: 'real', serverName: 'localhost' },
      { name: '2. client cert from a rogue CA', refusedBy: 'server', expectedReason: 'untrusted', identity: identity(rogue, 'alice'), serverPort: 'real', serverName: 'localhost' },
      { name: '3. expired client cert', refusedBy: 'server', expectedReason: 'expired', identity: identity(pki, 'expired'), serverPort: 'real', serverName: 'localhost' },
      { name: '4. revoked client cert', refusedBy: 'server', expectedReason: 'revoked', identity: identity(pki, 'revoked'), serverPort: 'real', serverName: 'localhost' },
      { name: '5. private key does not match cert', refusedBy: 'server', expectedReason: 'key_mismatch', identity: identity(pki, 'alice', 'mallory'), serverPort: 'real', serverName: 'localhost' },
      { name: '6. server cert used as client cert', refusedBy: 'server', expectedReason: 'wrong_purpose', identity: identity(pki, 'server'), serverPort: 'real', serverName: 'localhost' },
      { name: '7. server cert from a rogue CA', refusedBy: 'client', expectedReason: 'untrusted', identity: identity(pki, 'alice'), serverPort: 'rogue', serverName: 'localhost' },
      { name: '8. server name not in the SANs', refusedBy: 'client', expectedReason: 'name_mismatch', identity: identity(pki, 'alice'), serverPort: 'real', serverName: 'chat.example.org' },
    ];

    const rows: { name: string; expected: string; got: string; ok: boolean }[] = [];
    for (const c of cases) {
      console.log(`\n${c.name}`);
      const before = failures.server.length;
      let got: string;
      try {
        const client = await SecureChatClient.connect({
          host: '127.0.0.1',
          port: c.serverPort === 'real' ? real.port : fake.port,
          serverName: c.serverName,
          identity: c.identity,
          trust,
        });
        console.log(`  [Client] Welcome, session ${client.sessionId}`);
        got = 'welcome';
        client.close();
      } catch (err) {
        const e = err instanceof SecureChatError ? err : new SecureChatError('internal', String(err));
        const reason = e.reason ?? e.code;
        // The server's refusal reaches us as an error record; our own refusal is thrown locally.
        if (e.details?.['fromPeer'] === true || failures.server.length > before) {
          console.log(`  [Client] Server rejected certificate – closing connection (${reason})`);
          got = `server refused: ${reason}`;
        } else {
          console.log(`  [Client] Refusing the server's certificate (${reason}): ${e.message}`);
          got = `client refused: ${reason}`;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
      const expected = c.refusedBy === 'none' ? 'welcome' : `${c.refusedBy} refused: ${c.expectedReason}`;
      rows.push({ name: c.name, expected, got, ok: got === expected });
    }

    await real.server.close();
    await fake.server.close();
    await real.storage.close();
    await fake.storage.close();

    console.log('\nSummary');
    const w = Math.max(...rows.map((r) => r.name.length));
    console.log(`  ${'case'.padEnd(w)}  ${'expected'.padEnd(30)}  ${'got'.padEnd(30)}  result`);
    for (const r of rows) console.log(`  ${r.name.padEnd(w)}  ${r.expected.padEnd(30)}  ${r.got.padEnd(30)}  ${r.ok ? 'PASS' : 'FAIL'}`);
    const passed = rows.filter((r) => r.ok).length;
    console.log(`\n${passed}/${rows.length} cases behaved as expected.`);
    return passed === rows.length ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('demo failed:', err);
    process.exit(1);
  },
);
