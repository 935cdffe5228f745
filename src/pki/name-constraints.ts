/**
 * Name constraints (RFC 5280 §4.2.1.10) of one CA applied to one certificate below it: every name of
 * a constrained type must fall inside a permitted subtree (when there are any of that type) and
 * outside every excluded one. DNS names and e-mail domains compare case-insensitively; a wildcard
 * SAN stands for every name it can match, so an excluded subtree that overlaps it refuses it and a
 * permitted one must hold all of it. Types we cannot evaluate (URIs, otherName, …) fail closed when a
 * constraint of that type exists, and so do constraints whose own syntax we could misread. The work
 * (names × constraints) is bounded per validation.
 */
import type { ParsedCert } from './cert.js';
import { dnHasPrefix } from './dn.js';
import { constraintDnsNameProblem } from './dns-syntax.js';
import type { NameConstraints } from './extensions.js';
import type { GeneralNameValue } from './general-names.js';
import { normaliseDnsName } from './hostname.js';
import type { CertProblem } from './reasons.js';

/** Name-versus-constraint comparisons allowed in one validation (all links, all candidates). */
export const NAME_CONSTRAINT_BUDGET = 65_536;

export interface ConstraintBudget {
  remaining: number;
}

const lower = (s: string): string => s.toLowerCase();

/** `name` (no wildcard) lies in the subtree `base`: `base` itself and below, or only below for `.base`. */
function inSubtree(name: string, base: string): boolean {
  if (base === '') return true;
  if (base.startsWith('.')) return name.endsWith(base);
  return name === base || name.endsWith(`.${base}`);
}

/** Every name `*.suffix` can match lies in the subtree `base`. */
function wildcardInSubtree(suffix: string, base: string): boolean {
  if (base === '') return true;
  const body = base.startsWith('.') ? base.slice(1) : base;
  return suffix === body || suffix.endsWith(`.${body}`);
}

/** Some name `*.suffix` can match lies in the subtree `base`. */
function wildcardOverlaps(suffix: string, base: string): boolean {
  if (wildcardInSubtree(suffix, base)) return true;
  // `*.example.com` matches `bad.example.com` exactly.
  return !base.startsWith('.') && base.slice(base.indexOf('.') + 1) === suffix && base.includes('.');
}

function dnsRelation(name: string, base: string, mode: 'within' | 'overlaps'): boolean {
  const n = lower(name);
  const b = lower(base);
  if (!n.startsWith('*.')) return inSubtree(n, b);
  return mode === 'within' ? wildcardInSubtree(n.slice(2), b) : wildcardOverlaps(n.slice(2), b);
}

function emailWithin(mailbox: string, base: string): boolean {
  const at = mailbox.lastIndexOf('@');
  if (at < 0) return false;
  const domain = lower(mailbox.slice(at + 1));
  if (base.includes('@')) {
    const baseAt = base.lastIndexOf('@');
    // The local part is case-sensitive (RFC 5280 7.5), the domain is not.
    return mailbox.slice(0, at) === base.slice(0, baseAt) && domain === lower(base.slice(baseAt + 1));
  }
  const b = lower(base);
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

function relation(name: GeneralNameValue, base: GeneralNameValue, mode: 'within' | 'overlaps'): boolean {
  if (name.type === 'dns' && base.type === 'dns') return dnsRelation(name.value, base.value, mode);
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

function contiguousMask(mask: Buffer): boolean {
  let seenZero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const set = (byte >> bit) & 1;
      if (set && seenZero) return false;
      if (!set) seenZero = true;
    }
  }
  return true;
}

function baseProblem(base: GeneralNameValue): string | undefined {
  switch (base.type) {
    case 'dns': {
      const why = constraintDnsNameProblem(base.value);
      return why ? `dNSName constraint "${base.value}": ${why}` : undefined;
    }
    case 'ip':
      if (base.bytes.length !== 8 && base.bytes.length !== 32) return `iPAddress constraint of ${base.bytes.length} octets (8 or 32 expected)`;
      return contiguousMask(base.bytes.subarray(base.bytes.length / 2)) ? undefined : 'iPAddress constraint with a non-contiguous mask';
    case 'email': {
      const at = base.value.lastIndexOf('@');
      if (at === 0 || base.value.indexOf('@') !== at) return `rfc822Name constraint "${base.value}" is not a mailbox, host or domain`;
      // RFC 5280 4.2.1.10: a mailbox, a host, or `.domain` for any host below it (unlike dNSName, the dot is rfc822Name syntax).
      const domain = at > 0 ? base.value.slice(at + 1) : base.value.startsWith('.') ? base.value.slice(1) : base.value;
      const why = domain === '' ? 'empty domain' : constraintDnsNameProblem(domain);
      return why ? `rfc822Name constraint "${base.value}": ${why}` : undefined;
    }
    default:
      return undefined;
  }
}

/** A constraint we could misread (bad DNS syntax, bad IP length or mask, odd e-mail form): fail closed. */
export function nameConstraintsProblem(constraints: NameConstraints): CertProblem | undefined {
  for (const base of [...constraints.permitted, ...constraints.excluded]) {
    const why = baseProblem(base);
    if (why) return { reason: 'bad_name_constraint', detail: why };
  }
  return undefined;
}

/** The names a constraint applies to: SANs, the subject DN, its emailAddress attributes and, on a leaf without dNSName SANs, a host-like CN. */
function constrainedNames(cert: ParsedCert, isLeaf: boolean): GeneralNameValue[] {
  const names: GeneralNameValue[] = [...cert.subjectAltNames];
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host: IPv4 constraints apply to it too.
  for (const name of cert.subjectAltNames) {
    if (name.type === 'ip' && name.bytes.length === 16 && name.bytes.subarray(0, 10).every((b) => b === 0) && name.bytes.readUInt16BE(10) === 0xffff) {
      names.push({ type: 'ip', bytes: Buffer.from(name.bytes.subarray(12)) });
    }
  }
  if (cert.subjectDn.rdns.length > 0) names.push({ type: 'dir', dn: cert.subjectDn });
  for (const email of cert.subjectDn.emails) names.push({ type: 'email', value: email });
  // Legacy clients still match the CN, so a CA constrained to example.com must not be able to
  // mint CN=evil.com (what OpenSSL and browsers do too). We never match the CN ourselves.
  const cn = cert.commonName;
  if (isLeaf && cn && !names.some((n) => n.type === 'dns') && cn.includes('.') && normaliseDnsName(cn) && !/\s/.test(cn)) {
    names.push({ type: 'dns', value: cn });
  }
  return names;
}

/** undefined when `cert` satisfies `constraints`, else the reason and the offending name. */
export function nameConstraintViolation(cert: ParsedCert, constraints: NameConstraints, isLeaf: boolean, budget: ConstraintBudget): CertProblem | undefined {
  const names = constrainedNames(cert, isLeaf);
  const cost = names.length * (constraints.permitted.length + constraints.excluded.length);
  if (cost > budget.remaining) {
    return { reason: 'name_constraints_too_complex', detail: `${names.length} names × ${constraints.permitted.length + constraints.excluded.length} constraints exceeds the work bound of ${NAME_CONSTRAINT_BUDGET} comparisons` };
  }
  budget.remaining -= cost;
  for (const name of names) {
    const permitted = constraints.permitted.filter((b) => sameKind(name, b));
    const excluded = constraints.excluded.filter((b) => sameKind(name, b));
    if (name.type === 'uri' || name.type === 'other') {
      if (permitted.length + excluded.length > 0) return { reason: 'name_constraints', detail: `${describe(name)} cannot be checked against its constraints` };
      continue;
    }
    if (excluded.some((b) => relation(name, b, 'overlaps'))) return { reason: 'name_constraints', detail: `${describe(name)} is in (or overlaps) an excluded subtree` };
    if (permitted.length > 0 && !permitted.some((b) => relation(name, b, 'within'))) return { reason: 'name_constraints', detail: `${describe(name)} is outside the permitted subtrees` };
  }
  return undefined;
}
