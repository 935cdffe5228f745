/**
 * Distinguished names in the form the validator compares them: RFC 5280 §7.1 asks for a
 * case-insensitive, whitespace-insensitive match of string attributes, which is what `key` encodes
 * (one canonical string per RDN, multi-valued RDNs sorted).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';

export interface DistinguishedName {
  /** Canonical RDNs in encoding order; a directoryName constraint is a prefix of this list. */
  readonly rdns: readonly string[];
  /** Canonical whole-name key: equal keys mean equal names. */
  readonly key: string;
  /** Display form, e.g. `O=Acme, CN=alice`. */
  readonly text: string;
  readonly commonName: string | undefined;
  /** Every commonName value, in encoding order. */
  readonly commonNames: readonly string[];
  /** emailAddress attributes (PKCS#9), which name constraints on rfc822Name also cover. */
  readonly emails: readonly string[];
}

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};
const OID_CN = '2.5.4.3';
const OID_EMAIL = '1.2.840.113549.1.9.1';

function canonicalValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ').toLowerCase();
}

export function dnFromAsn(name: Name): DistinguishedName {
  const rdns: string[] = [];
  const parts: string[] = [];
  const emails: string[] = [];
  const commonNames: string[] = [];
  let commonName: string | undefined;
  for (const rdn of name) {
    const attrs: string[] = [];
    const shown: string[] = [];
    for (const atv of rdn) {
      const value = atv.value.toString();
      attrs.push(`${atv.type}=${canonicalValue(value)}`);
      shown.push(`${SHORT_NAMES[atv.type] ?? atv.type}=${value}`);
      // The most specific (last) CN wins, as in every TLS stack.
      if (atv.type === OID_CN) {
        commonName = value;
        commonNames.push(value);
      }
      if (atv.type === OID_EMAIL) emails.push(value);
    }
    rdns.push(attrs.sort().join('+'));
    parts.push(shown.join('+'));
  }
  return { rdns, key: rdns.join(','), text: parts.join(', '), commonName, commonNames, emails };
}

export function dnFromDer(der: Buffer): DistinguishedName {
  return dnFromAsn(AsnConvert.parse(der, Name));
}

/** True when `prefix` names a subtree containing `name` (directoryName constraints). */
export function dnHasPrefix(name: DistinguishedName, prefix: DistinguishedName): boolean {
  if (prefix.rdns.length > name.rdns.length) return false;
  return prefix.rdns.every((rdn, i) => name.rdns[i] === rdn);
}
