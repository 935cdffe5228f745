/**
 * X.509 profiles of the CA (generator side): which extensions a root, an intermediate and a leaf
 * carry, serial numbers, SAN and username syntax.
 */
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { canonicalIpText, sanDnsNameProblem, wildcardOnPublicSuffix } from './dns-syntax.js';
import { parseIpLiteral } from './hostname.js';
import { x509 } from './x509.js';
import type { KeyType } from './keys.js';

export type LeafKind = 'server' | 'client';

/** 16 random bytes, positive (top bit clear) and minimal (first byte non-zero): 120+ bits of entropy. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export interface SanEntry {
  type: 'dns' | 'ip';
  value: string;
}

/** Parses `DNS:name`, `IP:addr` or a bare name/address (an IP literal is recognised as such). */
export function parseSan(raw: string): SanEntry {
  const m = /^(dns|ip):(.*)$/i.exec(raw.trim());
  const value = (m ? m[2] : raw).trim().toLowerCase();
  const wantIp = m ? m[1].toLowerCase() === 'ip' : isIP(value) !== 0;
  if (wantIp) {
    const bytes = isIP(value) === 0 ? undefined : parseIpLiteral(value);
    if (!bytes) throw new SecureChatError('usage', `"${raw}" is not an IP address.`);
    // Canonical text (RFC 5952 for IPv6), so a CN copied from it is byte for byte what validators expect.
    return { type: 'ip', value: canonicalIpText(bytes) ?? value };
  }
  // The same rules the validator applies, so the CA never issues what its own peers refuse.
  const why = sanDnsNameProblem(value);
  if (why) throw new SecureChatError('usage', `"${raw}" is not a valid DNS name (${why}; wildcards only as the whole left-most label).`);
  if (wildcardOnPublicSuffix(value)) throw new SecureChatError('usage', `"${raw}" is a wildcard on a public suffix.`);
  return { type: 'dns', value };
}

export function sanText(s: SanEntry): string {
  return `${s.type === 'dns' ? 'DNS' : 'IP'}:${s.value}`;
}

export const USERNAME = /^[a-zA-Z0-9_.-]{1,64}$/;

export function assertUsername(name: string): void {
  if (!USERNAME.test(name)) {
    throw new SecureChatError('usage', `Invalid username "${name}": 1-64 characters of a-z, A-Z, 0-9, _ . -`);
  }
}

/** An X.500 name as the string @peculiar/x509 parses; special characters are escaped. */
export function commonName(cn: string): string {
  return `CN=${cn.replace(/([,+"\\<>;=])/g, '\\$1')}`;
}

async function subjectKeyId(publicKey: CryptoKey): Promise<x509.SubjectKeyIdentifierExtension> {
  return x509.SubjectKeyIdentifierExtension.create(publicKey);
}

/** AKI = the issuer's SKI, byte for byte, so path builders can match them. */
function authorityKeyId(issuer: x509.X509Certificate): x509.AuthorityKeyIdentifierExtension {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new SecureChatError('internal', 'The issuing CA certificate has no subjectKeyIdentifier.');
  return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
}

const CA_USAGE = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

export async function rootExtensions(publicKey: CryptoKey, pathLength: number): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(CA_USAGE, true),
    await subjectKeyId(publicKey),
  ];
}

export async function intermediateExtensions(publicKey: CryptoKey, issuer: x509.X509Certificate): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(CA_USAGE, true),
    await subjectKeyId(publicKey),
    authorityKeyId(issuer),
  ];
}

export async function leafExtensions(opts: {
  kind: LeafKind;
  keyType: KeyType;
  publicKey: CryptoKey;
  issuer: x509.X509Certificate;
  sans: SanEntry[];
}): Promise<x509.Extension[]> {
  // RSA keys can also be used for key transport; EC and Ed25519 keys only sign.
  const usage =
    opts.keyType === 'rsa3072'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
  const eku = opts.kind === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const exts: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([eku], false),
    await subjectKeyId(opts.publicKey),
    authorityKeyId(opts.issuer),
  ];
  if (opts.sans.length > 0) exts.push(new x509.SubjectAlternativeNameExtension(opts.sans, false));
  return exts;
}

/** DER INTEGER for a non-negative number (CRL numbers stay far below 2^53). */
function derInteger(n: number): Uint8Array<ArrayBuffer> {
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]));
}

const OID_CRL_NUMBER = '2.5.29.20';

export function crlExtensions(issuer: x509.X509Certificate, crlNumber: number): x509.Extension[] {
  return [authorityKeyId(issuer), new x509.Extension(OID_CRL_NUMBER, false, derInteger(crlNumber))];
}
