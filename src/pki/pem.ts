/** PEM <-> DER, and private keys from PEM text (optionally encrypted PKCS#8). */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { decryptPkcs8, isPbes2 } from './encrypted-key.js';

export interface PemBlock {
  label: string;
  der: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Every PEM block in the text, in order; text outside blocks (openssl's "Bag Attributes", comments) is ignored. */
export function readPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    // RFC 1421 headers (Proc-Type, DEK-Info) precede the base64 body of legacy encrypted keys.
    const body = m[2]
      .split('\n')
      .filter((line) => !line.includes(':'))
      .join('')
      .replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) {
      throw new SecureChatError('bad_input', `The PEM block "${m[1]}" is not valid base64.`);
    }
    blocks.push({ label: m[1], der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

/** DER of every CERTIFICATE block; throws bad_input when there is none. */
export function readPemCertificates(text: string): Buffer[] {
  const certs = readPemBlocks(text)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => b.der);
  if (certs.length === 0) throw new SecureChatError('bad_input', 'No PEM CERTIFICATE block found.');
  return certs;
}

/**
 * The first private key in the text. An encrypted key without a passphrase, or with the wrong
 * one, is `bad_passphrase`; text that holds no parsable key is `bad_input`. PBES2 keys (ours:
 * scrypt) are decrypted here with the work limits of pbes2.ts; anything older goes to OpenSSL.
 */
export function readPrivateKey(pemText: string, passphrase?: string): KeyObject {
  const block = readPemBlocks(pemText).find((b) => b.label.endsWith('PRIVATE KEY'));
  if (!block) throw new SecureChatError('bad_input', 'No PEM PRIVATE KEY block found.');
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: 4,ENCRYPTED/.test(pemText);
  if (encrypted && passphrase === undefined) {
    throw new SecureChatError('bad_passphrase', 'The key is encrypted; pass --passphrase-file (or run on a terminal to be asked).');
  }
  if (block.label === 'ENCRYPTED PRIVATE KEY' && passphrase !== undefined && isPbes2(block.der)) {
    const pkcs8 = decryptPkcs8(block.der, passphrase);
    try {
      return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    } catch (err) {
      // Padding that happens to check out under a wrong password leaves garbage.
      throw new SecureChatError('bad_passphrase', undefined, { cause: err });
    } finally {
      pkcs8.fill(0);
    }
  }
  try {
    return createPrivateKey({ key: pemText, format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (err) {
    if (encrypted) throw new SecureChatError('bad_passphrase', undefined, { cause: err });
    throw new SecureChatError('bad_input', 'The private key could not be parsed.', { cause: err });
  }
}
