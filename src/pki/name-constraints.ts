/**
 * Name constraints (RFC 5280 §4.2.1.10) of one CA applied to one certificate below it: every name of
 * a constrained type must fall inside a permitted subtree (when there are any of that type) and
 * outside every excluded one. Types we cannot evaluate (URIs, otherName, …) fail closed when a
 * constraint of that type exists.
 */
import type { ParsedCert } from './cert.js';
import { dnHasPrefix } from './dn.js';
import type { NameConstraints } from './extensions.js';
import type { GeneralNameValue } from './general-names.js';
import { normaliseDnsName } from './hostname.js';

function dnsWithin(name: string, base: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const b = base.toLowerCase().replace(/\.$/, '');
  if (b === '') return true;
  if (b.startsWith('.')) return n.endsWith(b);
  return n === b || n.endsWith(`.${b}`);
}

function emailWithin(mailbox: string, base: string): boolean {
  const at = mailbox.lastIndexOf('@');
  if (at < 0) return false;
  const domain = mailbox.slice(at + 1).toLowerCase();
  if (base.includes('@')) {
    const baseAt = base.lastIndexOf('@');
    return mailbox.slice(0, at) === base.slice(0, baseAt) && domain === base.slice(baseAt + 1).toLowerCase();
  }
  const b = base.toLowerCase();
  return b.startsWith('.') ? domain.endsWith(b) : domain === b;
}

function ipWithin(address: Buffer, base: Buffer): boolean {
  if (base.length !== address.length * 2) return false;
  for (let i = 0; i < address.length; i++) {
    const mask = base[address.length + i];
    if ((address[i] & mask) !== (base[i] & mask)) return false;
  }
  return true;
}

function within(name: GeneralNameValue, base: GeneralNameValue): boolean {
  if (name.type === 'dns' && base.type === 'dns') return dnsWithin(name.value, base.value);
  if (name.type === 'email' && base.type === 'email') return emailWithin(name.value, base.value);
  if (name.type === 'ip' && base.type === 'ip') return ipWithin(name.bytes, base.bytes);
  if (name.type === 'dir' && base.type === 'dir') return dnHasPrefix(name.dn, base.dn);
  return false;
}

function sameKind(a: GeneralNameValue, b: GeneralNameValue): boolean {
  if (a.type !== b.type) return false;
  return a.type !== 'other' || (b.type === 'other' && a.tag === b.tag);
}

function describe(name: GeneralNameValue): string {
  switch (name.type) {
    case 'dns':
    case 'email':
    case 'uri':
      return `${name.type}:${name.value}`;
    case 'ip':
      return `ip:${name.bytes.toString('hex')}`;
    case 'dir':
      return `dirName:${name.dn.text}`;
    default:
      return `name with tag 0x${name.tag.toString(16)}`;
  }
}

/** The names a constraint applies to: SANs, the subject DN, its emailAddress attributes and, on a leaf without dNSName SANs, a host-like CN. */
function constrainedNames(cert: ParsedCert, isLeaf: boolean): GeneralNameValue[] {
  const names: GeneralNameValue[] = [...cert.subjectAltNames];
  if (cert.subjectDn.rdns.length > 0) names.push({ type: 'dir', dn: cert.subjectDn });
  for (const email of cert.subjectDn.emails) names.push({ type: 'email', value: email });
  // Legacy clients still match the CN, so a CA constrained to example.com must not be able to
  // mint CN=evil.com (what OpenSSL and browsers do too).
  const cn = cert.commonName;
  if (isLeaf && cn && !names.some((n) => n.type === 'dns') && cn.includes('.') && normaliseDnsName(cn) && !/\s/.test(cn)) {
    names.push({ type: 'dns', value: cn });
  }
  return names;
}

/** undefined when `cert` satisfies `constraints`, else a description of the offending name. */
export function nameConstraintViolation(cert: ParsedCert, constraints: NameConstraints, isLeaf: boolean): string | undefined {
  for (const name of constrainedNames(cert, isLeaf)) {
    const permitted = constraints.permitted.filter((b) => sameKind(name, b));
    const excluded = constraints.excluded.filter((b) => sameKind(name, b));
    if (name.type === 'uri' || name.type === 'other') {
      if (permitted.length + excluded.length > 0) return `${describe(name)} cannot be checked against its constraints`;
      continue;
    }
    if (excluded.some((b) => within(name, b))) return `${describe(name)} is in an excluded subtree`;
    if (permitted.length > 0 && !permitted.some((b) => within(name, b))) return `${describe(name)} is outside the permitted subtrees`;
  }
  return undefined;
}
