/**
 * Syntax of the names a certificate carries (RFC 5280 4.2.1.6 "preferred name syntax", RFC 1034
 * 3.5 as relaxed by RFC 1123; CABF BR 7.1.4.3 for the canonical text of IP addresses) and the
 * public-suffix rule for wildcards, using the maintained Public Suffix List (ICANN and private
 * sections) of the `psl` package rather than a hand list.
 */
import * as psl from 'psl';

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const MAX_NAME = 253;

function labelsProblem(labels: readonly string[]): string | undefined {
  for (const label of labels) {
    if (label === '') return 'empty label';
    if (label.includes('_')) return 'underscore in a label';
    if (!LDH_LABEL.test(label)) return `label "${label}" is not letters, digits and inner hyphens`;
  }
  // An all-numeric top label is an IP address written as a name (CABF: never in a dNSName).
  if (labels.length > 0 && /^[0-9]+$/.test(labels[labels.length - 1])) return 'all-numeric top-level label';
  return undefined;
}

/** Why a subjectAltName dNSName is not preferred name syntax (wildcard only as the whole left-most label), or undefined. */
export function sanDnsNameProblem(name: string): string | undefined {
  if (name === '') return 'empty dNSName';
  if (name.length > MAX_NAME) return 'longer than 253 characters';
  if (name.startsWith('.')) return 'leading dot';
  if (name.endsWith('.')) return 'trailing dot';
  const labels = name.split('.');
  if (labels[0] === '*') {
    if (labels.length < 2) return 'bare wildcard';
    return labelsProblem(labels.slice(1));
  }
  if (name.includes('*')) return 'wildcard that is not the whole left-most label';
  return labelsProblem(labels);
}

/**
 * Why a dNSName name constraint cannot be evaluated, or undefined. Only the empty name (every
 * name) and plain LDH names are allowed. A leading dot is URI-constraint syntax that RFC 5280
 * 4.2.1.10 does not give dNSName (OpenSSL and Go read it as "subdomains only", x509-limbo and
 * pyca/cryptography refuse it); wildcards and trailing dots are not names either. Whatever we
 * could misread fails closed.
 */
export function constraintDnsNameProblem(name: string): string | undefined {
  if (name === '') return undefined;
  if (name.length > MAX_NAME) return 'longer than 253 characters';
  if (name.startsWith('.')) return 'leading dot (not dNSName constraint syntax)';
  if (name.endsWith('.')) return 'trailing dot';
  if (name.includes('*')) return 'wildcard in a constraint';
  return labelsProblem(name.split('.'));
}

/**
 * Why an rfc822Name SAN (or an emailAddress attribute) is not one mailbox `local@domain`, or
 * undefined: exactly one `@`, a non-empty local part of printable ASCII, and a domain in
 * preferred name syntax. Name constraints compare the part after the `@`, so a second `@`
 * (`a@evil.com@example.com`) must not get that far.
 */
export function mailboxProblem(mailbox: string): string | undefined {
  const at = mailbox.indexOf('@');
  if (at < 0) return 'no "@"';
  if (mailbox.indexOf('@', at + 1) >= 0) return 'more than one "@"';
  const local = mailbox.slice(0, at);
  if (local === '' || !/^[\x21-\x7e]+$/.test(local)) return 'empty or non-printable local part';
  const domain = mailbox.slice(at + 1);
  if (domain === '') return 'empty domain';
  if (domain.startsWith('.') || domain.endsWith('.')) return 'leading or trailing dot in the domain';
  if (domain.includes('*')) return 'wildcard in the domain';
  return labelsProblem(domain.split('.'));
}

/** True when `*.base` would sit directly on a public suffix (`*.com`, `*.co.uk`, `*.github.io`). */
export function wildcardOnPublicSuffix(name: string): boolean {
  if (!name.startsWith('*.')) return false;
  const base = name.slice(2).toLowerCase();
  // psl.get returns the registrable domain; none means `base` is itself a suffix (or a bare TLD).
  return psl.get(base) === null;
}

/** Canonical text of an iPAddress SAN: dotted decimal without leading zeros, or RFC 5952 IPv6. */
export function canonicalIpText(bytes: Buffer): string | undefined {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) return undefined;
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  // RFC 5952 5: IPv4-mapped addresses keep the dotted tail.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
