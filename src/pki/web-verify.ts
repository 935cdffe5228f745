/**
 * The server-chain check the browser client runs (src/web/), on @peculiar/x509 and WebCrypto only
 * (no Buffer, no node:*): the node-side validator (verify.ts, path-builder.ts, checks.ts) reads
 * certificates through node:crypto, which a page does not have. Same result type and the same
 * reason codes (reasons.ts) for the rules a client applies to a server:
 *
 * - a path from the leaf through the presented intermediates to one of the trust anchors, each
 *   signature verified with the issuer's key (`untrusted`, `bad_signature`, `path_too_long`);
 * - every certificate inside its validity at `time` (`expired`, `not_yet_valid`);
 * - issuers are CAs (`not_ca`) allowed to sign certificates (`bad_key_usage`), within their
 *   pathLenConstraint (`path_length_exceeded`);
 * - the leaf is not a CA (`leaf_is_ca`), carries the serverAuth EKU (`wrong_purpose`) and, when it
 *   has keyUsage, digitalSignature (`bad_key_usage`); no unknown critical extension anywhere;
 * - the expected name matches a subjectAltName (RFC 6125: dNSName or iPAddress, never the CN; `*`
 *   only as the whole left-most label) (`missing_san`, `name_mismatch`).
 *
 * Revocation is not checked here: the browser holds no CRL (the server checks clients' CRLs; a
 * revoked server certificate is replaced by the operator). test/unit/web-verify.test.ts runs the
 * same fixtures through this and through verifyChain and expects the same verdicts.
 */
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { failure, type CertFailure, type CertFailureReason, type Purpose } from './reasons.js';

export interface WebVerifyOptions {
  /** Trust anchors (DER). */
  roots: Uint8Array[];
  time?: Date;
  /** DNS name or IP literal the leaf must carry as a subjectAltName. */
  hostname?: string;
  purpose?: Extract<Purpose, 'server' | 'client'>;
  /** Longest path, leaf and anchor included (default 8, as verify.ts). */
  maxDepth?: number;
}

export type WebVerifyResult = { ok: true; subject: string; fingerprint: string } | CertFailure;

const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** Extensions whose meaning this validator knows (a critical one outside this set fails). */
const KNOWN_EXTENSIONS = new Set([
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.32', // certificatePolicies
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.37', // extendedKeyUsage
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
]);

function fail(reason: CertFailureReason, cert: x509.X509Certificate | undefined, certIndex: number, detail: string): CertFailure {
  return failure(reason, certIndex, cert?.subject ?? '', detail);
}

function ext<T extends x509.Extension>(cert: x509.X509Certificate, type: new (raw: BufferSource) => T): T | undefined {
  return cert.getExtension(type) ?? undefined;
}

function parse(der: Uint8Array): x509.X509Certificate | undefined {
  try {
    return new x509.X509Certificate(der as Uint8Array<ArrayBuffer>);
  } catch {
    return undefined;
  }
}

function intrinsic(cert: x509.X509Certificate, depth: number, time: Date): CertFailure | undefined {
  if (time < cert.notBefore) return fail('not_yet_valid', cert, depth, `valid from ${cert.notBefore.toISOString()}`);
  if (time > cert.notAfter) return fail('expired', cert, depth, `expired ${cert.notAfter.toISOString()}`);
  for (const e of cert.extensions) {
    if (e.critical && !KNOWN_EXTENSIONS.has(e.type)) return fail('unknown_critical_extension', cert, depth, e.type);
  }
  return undefined;
}

/** The checks on a certificate that signs others, `below` CA certificates under it in the path. */
function issuerRole(cert: x509.X509Certificate, depth: number, below: number): CertFailure | undefined {
  const bc = ext(cert, x509.BasicConstraintsExtension);
  if (!bc?.ca) return fail('not_ca', cert, depth, 'basicConstraints cA is not TRUE');
  if (bc.pathLength !== undefined && below > bc.pathLength) return fail('path_length_exceeded', cert, depth, `pathLenConstraint ${bc.pathLength}`);
  const ku = ext(cert, x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) return fail('bad_key_usage', cert, depth, 'keyUsage lacks keyCertSign');
  return undefined;
}

async function signedBy(child: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  if (child.issuer !== issuer.subject) return false;
  try {
    return await child.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

export async function verifyServerChainWeb(chain: readonly Uint8Array[], options: WebVerifyOptions): Promise<WebVerifyResult> {
  const time = options.time ?? new Date();
  const maxDepth = options.maxDepth ?? 8;
  const purpose = options.purpose ?? 'server';
  const certs = chain.map(parse);
  const leaf = certs[0];
  if (!leaf || certs.some((c) => c === undefined)) return fail('malformed', undefined, certs.findIndex((c) => !c), 'not a DER X.509 certificate');
  const roots = options.roots.map(parse).filter((c): c is x509.X509Certificate => c !== undefined);

  // The leaf's own rules.
  const leafProblem = intrinsic(leaf, 0, time);
  if (leafProblem) return leafProblem;
  if (ext(leaf, x509.BasicConstraintsExtension)?.ca) return fail('leaf_is_ca', leaf, 0, 'end-entity certificate asserts cA=TRUE');
  const eku = ext(leaf, x509.ExtendedKeyUsageExtension);
  const wanted = purpose === 'server' ? EKU_SERVER_AUTH : EKU_CLIENT_AUTH;
  if (!eku || !eku.usages.map(String).includes(wanted)) {
    return fail('wrong_purpose', leaf, 0, `extendedKeyUsage does not include ${purpose === 'server' ? 'serverAuth' : 'clientAuth'}`);
  }
  const ku = ext(leaf, x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.digitalSignature)) return fail('bad_key_usage', leaf, 0, 'keyUsage lacks digitalSignature');
  const san = ext(leaf, x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.items.map((n) => ({ type: n.type, value: n.value })) : [];
  if (purpose === 'server') {
    if (!san) return fail('missing_san', leaf, 0, 'server certificate without subjectAltName');
    // CABF BR 7.1.4.3: a server certificate's CN, if any, is a copy of one of its SANs.
    for (const cn of leaf.subjectName.getField('CN')) {
      if (!names.some((n) => (n.type === 'dns' || n.type === 'ip') && n.value === cn)) {
        return fail('cn_not_in_san', leaf, 0, `commonName "${cn}" is not byte for byte one of the subjectAltName entries`);
      }
    }
  }
  if (options.hostname !== undefined) {
    if (!san) return fail('missing_san', leaf, 0, 'no subjectAltName');
    if (!matchesServerName(names, options.hostname)) return fail('name_mismatch', leaf, 0, `${options.hostname} is not among the subjectAltNames`);
  }

  // Up the presented chain to an anchor.
  let current = leaf;
  const used = new Set<x509.X509Certificate>();
  let sawNameMatch = false;
  for (let depth = 0; depth + 1 < maxDepth; depth++) {
    for (const root of roots) {
      if (await signedBy(current, root)) {
        const problem = intrinsic(root, depth + 1, time) ?? issuerRole(root, depth + 1, depth);
        if (problem) return problem;
        return { ok: true, subject: leaf.subject, fingerprint: await fingerprint(leaf) };
      }
      if (current.issuer === root.subject) sawNameMatch = true;
    }
    let next: x509.X509Certificate | undefined;
    for (const candidate of certs.slice(1) as x509.X509Certificate[]) {
      if (used.has(candidate) || candidate === current) continue;
      if (current.issuer !== candidate.subject) continue;
      sawNameMatch = true;
      if (await signedBy(current, candidate)) {
        next = candidate;
        break;
      }
    }
    if (!next) {
      return sawNameMatch
        ? fail('bad_signature', current, depth, 'the issuer named does not verify the signature')
        : fail('untrusted', current, depth, 'no path to a trusted root');
    }
    const problem = intrinsic(next, depth + 1, time) ?? issuerRole(next, depth + 1, depth);
    if (problem) return problem;
    used.add(next);
    current = next;
  }
  return fail('path_too_long', current, maxDepth, `longer than ${maxDepth} certificates`);
}

async function fingerprint(cert: x509.X509Certificate): Promise<string> {
  const digest = new Uint8Array(await cert.getThumbprint('SHA-256'));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

// ---- server name matching (RFC 6125 / 9525; the rules of hostname.ts, without node:net/url) ----

function ipv4(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p, i) => p <= 255 && String(p) === m[i + 1]) ? parts : undefined;
}

/** The bytes of an IPv4 or IPv6 literal (brackets allowed), or undefined. */
export function ipLiteralBytes(text: string): number[] | undefined {
  const literal = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = ipv4(literal);
  if (v4) return v4;
  if (!literal.includes(':') || literal.includes('%') || !/^[0-9a-fA-F:.]+$/.test(literal)) return undefined;
  let body = literal;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    const t = ipv4(tail);
    if (!t) return undefined;
    body = `${body.slice(0, lastColon + 1)}${((t[0] << 8) | t[1]).toString(16)}:${((t[2] << 8) | t[3]).toString(16)}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 ? (halves[1] ? halves[1].split(':') : []) : [];
  const zeros = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const groups = [...head, ...Array<string>(Math.max(0, zeros)).fill('0'), ...rest];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

function normaliseDns(name: string): string | undefined {
  const trimmed = (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
  if (!/^[\x21-\x7e]*$/.test(trimmed) || trimmed.length === 0 || trimmed.length > 253) return undefined;
  return trimmed.split('.').every((l) => l.length > 0 && l.length <= 63) ? trimmed : undefined;
}

function dnsMatches(pattern: string, host: string): boolean {
  const p = normaliseDns(pattern);
  if (!p) return false;
  if (!p.includes('*')) return p === host;
  const labels = p.split('.');
  if (labels[0] !== '*' || labels.length < 3 || labels.slice(1).some((l) => l.includes('*'))) return false;
  const hostLabels = host.split('.');
  return hostLabels.length === labels.length && labels.slice(1).join('.') === hostLabels.slice(1).join('.');
}

export function matchesServerName(sans: ReadonlyArray<{ type: string; value: string }>, hostname: string): boolean {
  const ip = ipLiteralBytes(hostname);
  if (ip) return sans.some((n) => n.type === 'ip' && ipLiteralBytes(n.value)?.join('.') === ip.join('.'));
  const host = normaliseDns(hostname);
  if (!host || host.includes('*')) return false;
  return sans.some((n) => n.type === 'dns' && dnsMatches(n.value, host));
}
