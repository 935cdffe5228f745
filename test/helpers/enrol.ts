/**
 * Enrolment by token from a test: an encrypted CA with an intermediate (the production shape),
 * CSRs made the way the browser makes them (@peculiar/x509 over WebCrypto), and HTTPS calls to
 * /api/enrol and /api/trust of a running WebSocket port.
 */
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueCertificate } from '../../src/pki/ca.js';
import { x509 } from '../../src/pki/x509.js';

export const CA_PASSPHRASE = 'enrolment test passphrase';

export interface EnrolPki {
  dir: string;
  passFile: string;
  rootPem: string;
}

/** root + intermediate, keys encrypted, a server certificate for localhost, bob's client certificate. */
export async function makeEnrolPki(): Promise<EnrolPki> {
  const base = mkdtempSync(join(tmpdir(), 'sc-enrol-'));
  const dir = join(base, 'ca');
  const passFile = join(base, 'ca.pass');
  writeFileSync(passFile, CA_PASSPHRASE + '\n', { mode: 0o600 });
  await initCa({ dir, passphrase: CA_PASSPHRASE, intermediate: true });
  await issueCertificate({ dir, kind: 'server', name: 'localhost', passphrase: CA_PASSPHRASE, certOut: join(dir, 'server_cert.pem'), keyOut: join(dir, 'server_key.pem') });
  await issueCertificate({ dir, kind: 'client', name: 'bob', passphrase: CA_PASSPHRASE });
  return { dir, passFile, rootPem: readFileSync(join(dir, 'root_ca.pem'), 'utf8') };
}

export interface Csr {
  pem: string;
  privateKey: KeyObject;
}

/** A PKCS#10 request for CN=`cn` on a fresh key, as the web client builds it. */
export async function makeCsr(cn: string, algorithm: 'p256' | 'rsa' = 'p256'): Promise<Csr> {
  const params =
    algorithm === 'p256'
      ? { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } }
      : { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } };
  const keys = (await webcrypto.subtle.generateKey(params.gen, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}`, keys, signingAlgorithm: params.sign });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { pem: csr.toString('pem'), privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface RequestOptions {
  method?: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Send the body in pieces with chunked encoding (no Content-Length). */
  chunked?: boolean;
}

/** One HTTPS request to 127.0.0.1:`port` trusting only `rootPem`; the body parsed as JSON when it is. */
export function apiRequest(port: number, rootPem: string, opts: RequestOptions): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, servername: 'localhost', ca: rootPem, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body === undefined) return void req.end();
    if (opts.chunked) {
      const data = Buffer.from(opts.body);
      for (let i = 0; i < data.length; i += 4096) req.write(data.subarray(i, i + 4096));
      req.end();
    } else {
      req.setHeader('Content-Length', String(Buffer.byteLength(opts.body)));
      req.end(opts.body);
    }
  });
}

/** POST /api/enrol with a JSON body. */
export function postEnrol(port: number, rootPem: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  return apiRequest(port, rootPem, { method: 'POST', path: '/api/enrol', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } });
}

/** The `error.code` of an API failure reply (undefined for a success). */
export function errorCode(reply: HttpReply): string | undefined {
  const body = reply.body as { error?: { code?: string } };
  return body?.error?.code;
}
