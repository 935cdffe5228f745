/**
 * Decodes the certificate extensions the validator enforces, once per certificate, and records
 * what makes a certificate unusable (duplicates, empty SAN, unknown critical extensions) instead of
 * throwing, so the validator can report it with the certificate's position in the chain.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { ExtendedKeyUsage, type Extension } from '@peculiar/asn1-x509';
import {
  DerError, TAG_BIT_STRING, TAG_BOOLEAN, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE, content, readChildren, readWhole,
} from './der.js';
import { decodeGeneralName, decodeGeneralNames, type GeneralNameValue } from './general-names.js';

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  authorityKeyId: '2.5.29.35',
  subjectKeyId: '2.5.29.14',
  certificatePolicies: '2.5.29.32',
  crlDistributionPoints: '2.5.29.31',
  issuerAltName: '2.5.29.18',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  subjectInfoAccess: '1.3.6.1.5.5.7.1.11',
  ctPrecertScts: '1.3.6.1.4.1.11129.2.4.2',
} as const;

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  any: '2.5.29.37.0',
} as const;

/** keyUsage bit positions (RFC 5280 §4.2.1.3) as a bitmask: bit i ⇔ 1 << i. */
export const KU = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

/**
 * Extensions we either enforce or whose content cannot weaken a decision when ignored (policies are
 * accepted as anyPolicy; distribution points / AIA only tell where to fetch things, which we never do).
 */
const UNDERSTOOD = new Set<string>(Object.values(OID));

export interface NameConstraints {
  permitted: GeneralNameValue[];
  excluded: GeneralNameValue[];
}

export interface DecodedExtensions {
  basicConstraints?: { ca: boolean; pathLen?: number };
  keyUsage?: number;
  extKeyUsage?: string[];
  subjectAltName?: GeneralNameValue[];
  nameConstraints?: NameConstraints;
  authorityKeyId?: Buffer;
  subjectKeyId?: Buffer;
  unknownCritical: string[];
  /** First structural problem found, if any. */
  malformed?: string;
}

function octets(der: Buffer): Buffer {
  const tlv = readWhole(der, TAG_OCTET_STRING);
  return Buffer.from(content(der, tlv));
}

function smallInteger(buf: Buffer): number {
  if (buf.length === 0 || buf.length > 4 || (buf[0] & 0x80) !== 0) throw new DerError('integer out of range');
  return buf.readUIntBE(0, buf.length);
}

function decodeBasicConstraints(der: Buffer): { ca: boolean; pathLen?: number } {
  const seq = readWhole(der, TAG_SEQUENCE);
  const children = readChildren(der, seq);
  let ca = false;
  let pathLen: number | undefined;
  let i = 0;
  if (children[i]?.tag === TAG_BOOLEAN) {
    const value = content(der, children[i]);
    if (value.length !== 1) throw new DerError('bad BOOLEAN');
    ca = value[0] !== 0;
    i++;
  }
  if (children[i]?.tag === TAG_INTEGER) {
    pathLen = smallInteger(content(der, children[i]));
    i++;
  }
  if (i !== children.length) throw new DerError('unexpected element in basicConstraints');
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

function decodeKeyUsage(der: Buffer): number {
  const tlv = readWhole(der, TAG_BIT_STRING);
  const bits = content(der, tlv);
  if (bits.length < 1 || bits[0] > 7) throw new DerError('bad BIT STRING');
  let mask = 0;
  for (let i = 0; i < (bits.length - 1) * 8 && i < 9; i++) {
    if (bits[1 + (i >> 3)] & (0x80 >> (i & 7))) mask |= 1 << i;
  }
  return mask;
}

function decodeSubtrees(der: Buffer, tlv: ReturnType<typeof readWhole>): GeneralNameValue[] {
  return readChildren(der, tlv).map((subtree) => {
    if (subtree.tag !== TAG_SEQUENCE) throw new DerError('bad GeneralSubtree');
    const [base, ...rest] = readChildren(der, subtree);
    if (!base) throw new DerError('empty GeneralSubtree');
    // minimum must be 0 and maximum absent (RFC 5280 §4.2.1.10); anything else we cannot honour.
    for (const field of rest) {
      if (field.tag !== 0x80 || smallInteger(content(der, field)) !== 0) throw new DerError('unsupported subtree minimum/maximum');
    }
    return decodeGeneralName(der, base);
  });
}

function decodeNameConstraints(der: Buffer): NameConstraints {
  const seq = readWhole(der, TAG_SEQUENCE);
  const out: NameConstraints = { permitted: [], excluded: [] };
  for (const part of readChildren(der, seq)) {
    if (part.tag === 0xa0) out.permitted = decodeSubtrees(der, part);
    else if (part.tag === 0xa1) out.excluded = decodeSubtrees(der, part);
    else throw new DerError('unexpected element in nameConstraints');
  }
  if (out.permitted.length === 0 && out.excluded.length === 0) throw new DerError('empty nameConstraints');
  return out;
}

function decodeAuthorityKeyId(der: Buffer): Buffer | undefined {
  const seq = readWhole(der, TAG_SEQUENCE);
  const keyId = readChildren(der, seq).find((c) => c.tag === 0x80);
  return keyId ? Buffer.from(content(der, keyId)) : undefined;
}

export function decodeExtensions(extensions: readonly Extension[] | undefined): DecodedExtensions {
  const out: DecodedExtensions = { unknownCritical: [] };
  const seen = new Set<string>();
  for (const ext of extensions ?? []) {
    const oid = ext.extnID;
    if (seen.has(oid)) {
      out.malformed ??= `extension ${oid} appears more than once`;
      continue;
    }
    seen.add(oid);
    const value = Buffer.from(ext.extnValue.buffer);
    try {
      switch (oid) {
        case OID.basicConstraints:
          out.basicConstraints = decodeBasicConstraints(value);
          break;
        case OID.keyUsage:
          out.keyUsage = decodeKeyUsage(value);
          if (out.keyUsage === 0) throw new DerError('keyUsage with no bit set');
          break;
        case OID.extKeyUsage:
          out.extKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
          if (out.extKeyUsage.length === 0) throw new DerError('empty extKeyUsage');
          break;
        case OID.subjectAltName:
          out.subjectAltName = decodeGeneralNames(value);
          break;
        case OID.nameConstraints:
          out.nameConstraints = decodeNameConstraints(value);
          break;
        case OID.authorityKeyId:
          out.authorityKeyId = decodeAuthorityKeyId(value);
          break;
        case OID.subjectKeyId:
          out.subjectKeyId = octets(value);
          break;
        default:
          if (ext.critical && !UNDERSTOOD.has(oid)) out.unknownCritical.push(oid);
      }
    } catch (err) {
      out.malformed ??= `extension ${oid}: ${(err as Error).message}`;
    }
  }
  return out;
}
