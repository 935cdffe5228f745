/**
 * One-step set-up (`npm run generate-certs`, and the server's first start): makes DIR a CA
 * directory holding a server certificate and client certificates, keeping whatever is already
 * there and still good, issuing only what is missing.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';
import { caExists, initCa, issueCertificate, loadCa, writeCrl, DEFAULT_SERVER_SANS, type LoadedCa, type PassphraseSource } from './ca.js';
import { passphraseResolver } from './ca-store.js';
import type { KeyType } from './keys.js';
import { readPemCertificates } from './pem.js';
import { assertUsername } from './profiles.js';

export const DEFAULT_USERS = ['alice', 'bob'];

/** Said when a development CA is made, and by the server at every start while one is in place. */
export const UNENCRYPTED_WARNING = (dir: string): string =>
  `The CA keys in ${dir} are NOT encrypted (development CA): anyone who can read them can issue certificates your server accepts. Encrypt them with \`securechat ca change-passphrase --dir ${dir}\`; for production, create the CA with \`securechat ca init\` and keep its keys off the server.`;
/** The CRL is refreshed when it would go stale within this window. */
const CRL_REFRESH_MS = 24 * 3_600_000;

export interface EnsureCertificatesOptions {
  dir: string;
  /** Extra users besides `client`; default alice, bob. */
  users?: string[];
  /** The first is the server certificate's CN; all become SANs along with localhost, 127.0.0.1, ::1. */
  serverNames?: string[];
  /** Only used when a new CA is created. */
  intermediate?: boolean;
  keyType?: KeyType;
  /**
   * For an existing encrypted CA: the passphrase, or a function that asks for it (called only if
   * needed). When a new CA is made, a string passphrase encrypts it; without one the new CA is a
   * development CA with plaintext keys, and `log` says so.
   */
  passphrase?: PassphraseSource;
  log?: (message: string) => void;
  now?: Date;
}

export interface EnsureCertificatesResult {
  created: string[];
  kept: string[];
}

/** True when the pair on disk is usable: key matches, signed by the current issuer, not expiring within a day. */
function pairIsGood(ca: LoadedCa, certPath: string, keyPath: string, now: Date): boolean {
  if (!existsSync(certPath) || !existsSync(keyPath)) return false;
  try {
    const cert = new X509Certificate(readPemCertificates(readFileSync(certPath, 'utf8'))[0]);
    const issuer = new X509Certificate(ca.issuer.certPem);
    const key = createPrivateKey(readFileSync(keyPath));
    return cert.verify(issuer.publicKey) && cert.checkPrivateKey(key) && new Date(cert.validTo).getTime() > now.getTime() + CRL_REFRESH_MS;
  } catch {
    return false;
  }
}

export async function ensureCertificates(opts: EnsureCertificatesOptions): Promise<EnsureCertificatesResult> {
  const log = opts.log ?? (() => undefined);
  const now = opts.now ?? new Date();
  const users = opts.users ?? DEFAULT_USERS;
  users.forEach(assertUsername);
  const [serverName = 'localhost', ...extraNames] = opts.serverNames ?? [];
  const created: string[] = [];
  const kept: string[] = [];
  // One answer for every step below (loading, issuing, the CRL), asked at most once.
  const once = passphraseResolver(opts.passphrase);
  const ask = async (): Promise<string> => {
    const p = await once();
    if (p === undefined) throw new SecureChatError('bad_passphrase', `The CA key in ${opts.dir} is encrypted; pass --passphrase-file (or run on a terminal to be asked).`);
    return p;
  };

  if (caExists(opts.dir)) {
    log(`Keeping the existing CA in ${opts.dir}.`);
    kept.push(join(opts.dir, 'root_ca.pem'));
  } else {
    const init = await initCa({
      dir: opts.dir,
      ...(opts.keyType ? { keyType: opts.keyType } : {}),
      ...(opts.intermediate ? { intermediate: true } : {}),
      ...(typeof opts.passphrase === 'string' ? { passphrase: opts.passphrase } : { unencrypted: true }),
      now,
    });
    log(`Created a new ${init.encrypted ? 'encrypted' : 'development (unencrypted)'} CA in ${opts.dir} (${init.rootName}).`);
    created.push(...init.files);
  }
  const ca = await loadCa(opts.dir, ask);

  const wanted: { kind: 'server' | 'client'; name: string; stem: string }[] = [
    { kind: 'server', name: serverName, stem: 'server' },
    ...['client', ...users.filter((u) => u !== 'client')].map((u) => ({ kind: 'client' as const, name: u, stem: u })),
  ];
  for (const w of wanted) {
    const certOut = join(opts.dir, `${w.stem}_cert.pem`);
    const keyOut = join(opts.dir, `${w.stem}_key.pem`);
    if (pairIsGood(ca, certOut, keyOut, now)) {
      log(`Keeping ${certOut}.`);
      kept.push(certOut, keyOut);
      continue;
    }
    await issueCertificate({
      dir: opts.dir,
      kind: w.kind,
      name: w.name,
      ...(w.kind === 'server' ? { sans: [...extraNames, ...DEFAULT_SERVER_SANS] } : {}),
      certOut,
      keyOut,
      force: true,
      now,
      passphrase: ask,
    });
    log(`Issued ${certOut} (${w.kind} ${w.name}).`);
    created.push(certOut, keyOut);
  }

  const crlPath = join(opts.dir, 'crl.pem');
  const nextUpdate = ca.index.crlNextUpdate ? new Date(ca.index.crlNextUpdate).getTime() : 0;
  if (!created.includes(crlPath)) {
    if (!existsSync(crlPath) || nextUpdate < now.getTime() + CRL_REFRESH_MS) {
      await writeCrl({ dir: opts.dir, now, passphrase: ask });
      log(`Published a fresh ${crlPath}.`);
      created.push(crlPath);
    } else {
      kept.push(crlPath);
    }
  }
  return { created, kept };
}
