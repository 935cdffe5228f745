/**
 * Matching the name the caller dialled against a certificate (RFC 6125 / RFC 9525): DNS names
 * against SAN dNSName, IP literals against SAN iPAddress, never the subject CN.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import type { GeneralNameValue } from './general-names.js';

function ipv4Bytes(text: string): number[] {
  return text.split('.').map((part) => Number(part));
}

/** The bytes of an IPv4 (4) or IPv6 (16) literal, brackets allowed; undefined when `text` is not one. */
export function parseIpLiteral(text: string): Buffer | undefined {
  const literal = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(literal)) return Buffer.from(ipv4Bytes(literal));
  if (!isIPv6(literal) || literal.includes('%')) return undefined;
  let body = literal;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = ipv4Bytes(tail);
    body = `${body.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = body.split('::');
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest === undefined ? [] : rest ? rest.split(':') : [];
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...restGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Lower-case ASCII (IDNA) form without a trailing dot; undefined for something that is not a host name. */
export function normaliseDnsName(name: string): string | undefined {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const ascii = /^[\x21-\x7e]*$/.test(trimmed) ? trimmed.toLowerCase() : domainToASCII(trimmed);
  if (!ascii || ascii.length > 253) return undefined;
  return ascii.split('.').every((label) => label.length > 0 && label.length <= 63) ? ascii : undefined;
}

/**
 * `*` only as the whole left-most label, over at least two further labels, matching exactly one
 * label (so `*.example.com` matches `a.example.com` but neither `example.com` nor `a.b.example.com`).
 */
export function dnsNameMatches(pattern: string, host: string): boolean {
  const normalised = normaliseDnsName(pattern);
  if (!normalised) return false;
  if (!normalised.includes('*')) return normalised === host;
  const labels = normalised.split('.');
  if (labels[0] !== '*' || labels.length < 3 || labels.slice(1).some((l) => l.includes('*'))) return false;
  const hostLabels = host.split('.');
  return hostLabels.length === labels.length && labels.slice(1).join('.') === hostLabels.slice(1).join('.');
}

export function matchesHostname(sans: readonly GeneralNameValue[], hostname: string): boolean {
  const ip = parseIpLiteral(hostname);
  if (ip) return sans.some((n) => n.type === 'ip' && n.bytes.equals(ip));
  const host = normaliseDnsName(hostname);
  if (!host || host.includes('*')) return false;
  return sans.some((n) => n.type === 'dns' && dnsNameMatches(n.value, host));
}
