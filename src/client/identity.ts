/**
 * Builds a client's credentials from files: the trusted root(s), our certificate chain, our key.
 * Every failure names the file, so `securechat chat` can say which flag is wrong.
 */
import { join } from 'node:path';
import { SecureChatError } from '../errors.js';
import { readInputText } from '../pki/files.js';
import { readPemCertificates, readPrivateKey } from '../pki/pem.js';
import { TrustStore } from '../pki/trust-store.js';
import { ParsedCert } from '../pki/cert.js';
import type { LocalIdentity } from '../protocol/types.js';

export interface ClientFiles {
  ca: string;
  cert: string;
  key: string;
  keyPassphrase?: string;
  /** Optional CRL for the server chain. */
  crl?: string;
  /** Most intermediate CAs accepted in the server's chain (default 6). */
  maxChainDepth?: number;
}

/** `--certs DIR --user NAME` → DIR/root_ca.pem, DIR/NAME_cert.pem, DIR/NAME_key.pem. */
export function filesFromCertsDir(dir: string, user: string): ClientFiles {
  return { ca: join(dir, 'root_ca.pem'), cert: join(dir, `${user}_cert.pem`), key: join(dir, `${user}_key.pem`) };
}

function withPath<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecureChatError && err.code !== 'bad_input') {
      throw new SecureChatError(err.code, `${what} ${path}: ${err.message}`, { cause: err });
    }
    const msg = err instanceof Error ? err.message : String(err);
    throw new SecureChatError('bad_input', `${what} ${path}: ${msg}`, { cause: err });
  }
}

export function loadClientFiles(files: ClientFiles): { identity: LocalIdentity; trust: TrustStore } {
  const caPem = readInputText(files.ca, 'CA certificate file');
  const certPem = readInputText(files.cert, 'certificate file');
  const keyPem = readInputText(files.key, 'key file');
  const crlPem = files.crl ? readInputText(files.crl, 'CRL file') : undefined;
  const chain = withPath(files.cert, 'Certificate file', () => readPemCertificates(certPem));
  const privateKey = withPath(files.key, 'Key file', () => readPrivateKey(keyPem, files.keyPassphrase));
  const trust = withPath(files.ca, 'CA certificate file', () => TrustStore.fromPem(caPem, crlPem, files.maxChainDepth !== undefined ? { maxChainDepth: files.maxChainDepth } : {}));
  return { identity: { chain, privateKey }, trust };
}

/** The CN of the certificate in `certFile` (the account it may log in to), or undefined when unreadable. */
export function certificateName(certFile: string): string | undefined {
  try {
    const [leaf] = readPemCertificates(readInputText(certFile, 'certificate file'));
    return leaf ? ParsedCert.fromDer(leaf).commonName : undefined;
  } catch {
    return undefined;
  }
}
