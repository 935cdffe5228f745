/**
 * Distinguished names in the form the validator compares them: RFC 5280 §7.1 asks for a
 * case-insensitive, whitespace-insensitive match of string attributes, which is what `key` encodes
 * (one canonical string per RDN, multi-valued RDNs sorted).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import type { Name } from '@peculiar/asn1-x509';
import { DerError, TAG_SEQUENCE, content, readChildren, readOid, readWhole, whole, type Tlv } from './der.js';

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

/** The text of a DirectoryString / IA5String / PrintableString value; other types as `#hex` of the DER (RFC 4514). */
function attributeText(buf: Buffer, tlv: Tlv): string {
  const bytes = content(buf, tlv);
  switch (tlv.tag) {
    case 0x0c:
      return bytes.toString('utf8');
    case 0x12:
    case 0x13:
    case 0x14:
    case 0x16:
    case 0x1a:
      return bytes.toString('latin1');
    case 0x1e: {
      if (bytes.length % 2) throw new DerError('odd BMPString');
      return Buffer.from(bytes).swap16().toString('utf16le');
    }
    case 0x1c: {
      if (bytes.length % 4) throw new DerError('bad UniversalString');
      let out = '';
      for (let i = 0; i < bytes.length; i += 4) out += String.fromCodePoint(bytes.readUInt32BE(i));
      return out;
    }
    default:
      return `#${whole(buf, tlv).toString('hex')}`;
  }
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue), read straight from DER. */
export function dnFromDer(der: Buffer): DistinguishedName {
  const rdns: string[] = [];
  const parts: string[] = [];
  const emails: string[] = [];
  const commonNames: string[] = [];
  let commonName: string | undefined;
  for (const rdn of readChildren(der, readWhole(der, TAG_SEQUENCE))) {
    if (rdn.tag !== 0x31) throw new DerError('RDN is not a SET');
    const attrs: string[] = [];
    const shown: string[] = [];
    const atvs = readChildren(der, rdn);
    if (atvs.length === 0) throw new DerError('empty RDN');
    for (const atv of atvs) {
      if (atv.tag !== TAG_SEQUENCE) throw new DerError('bad AttributeTypeAndValue');
      const [typeTlv, valueTlv, ...rest] = readChildren(der, atv);
      if (!typeTlv || !valueTlv || rest.length > 0) throw new DerError('bad AttributeTypeAndValue');
      const type = readOid(der, typeTlv);
      const value = attributeText(der, valueTlv);
      attrs.push(`${type}=${canonicalValue(value)}`);
      shown.push(`${SHORT_NAMES[type] ?? type}=${value}`);
      // The most specific (last) CN wins, as in every TLS stack.
      if (type === OID_CN) {
        commonName = value;
        commonNames.push(value);
      }
      if (type === OID_EMAIL) emails.push(value);
    }
    rdns.push(attrs.sort().join('+'));
    parts.push(shown.join('+'));
  }
  return { rdns, key: rdns.join(','), text: parts.join(', '), commonName, commonNames, emails };
}

export function dnFromAsn(name: Name): DistinguishedName {
  return dnFromDer(Buffer.from(AsnConvert.serialize(name)));
}

/** True when `prefix` names a subtree containing `name` (directoryName constraints). */
export function dnHasPrefix(name: DistinguishedName, prefix: DistinguishedName): boolean {
  if (prefix.rdns.length > name.rdns.length) return false;
  return prefix.rdns.every((rdn, i) => name.rdns[i] === rdn);
}
