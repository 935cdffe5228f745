/**
 * Decodes the certificate extensions the validator enforces, once per certificate, and records
 * what makes a certificate unusable (duplicates, empty SAN, malformed contents, unknown critical
 * extensions) instead of throwing, so the validator can report it with the certificate's position
 * in the chain and a reason code of its own. Criticality is kept per extension for the placement rules.
 */
import type { RawExtension } from './cert-encoding.js';
import {
  DerError, TAG_BIT_STRING, TAG_BOOLEAN, TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE, content, readChildren, readOid, readWhole,
} from './der.js';
import { decodeGeneralName, decodeGeneralNames, type GeneralNameValue } from './general-names.js';
import type { CertProblem } from './reasons.js';

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
  policyMappings: '2.5.29.33',
  policyConstraints: '2.5.29.36',
  inhibitAnyPolicy: '2.5.29.54',
} as const;

export const ANY_POLICY = '2.5.29.32.0';

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  any: '2.5.29.37.0',
} as const;

/** Purposes CABF BR 7.1.2.7.10 forbids beside serverAuth in a subscriber certificate (anyExtendedKeyUsage has its own code). */
export const EKU_NOT_WITH_SERVER_AUTH: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '1.3.6.1.4.1.11129.2.4.4': 'Precertificate Signing Certificate (RFC 6962)',
};

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
 * Extensions we either enforce or whose content cannot weaken a decision when ignored (distribution
 * points / AIA only tell where to fetch things, which we never do; policies are processed in policies.ts).
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
  /** keyIdentifier of the authorityKeyIdentifier, when it has one. */
  authorityKeyId?: Buffer;
  /** authorityCertIssuer / authorityCertSerialNumber of the authorityKeyIdentifier, when present. */
  authorityCertIssuer?: boolean;
  authorityCertSerial?: Buffer;
  subjectKeyId?: Buffer;
  certificatePolicies?: string[];
  /** issuerDomainPolicy → subjectDomainPolicy pairs. */
  policyMappings?: [string, string][];
  policyConstraints?: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number };
  inhibitAnyPolicy?: number;
  /** OID → the extension's critical flag, for every extension present. */
  critical: Map<string, boolean>;
  unknownCritical: string[];
  /** First problem found, if any: what the validator reports for this certificate. */
  problem?: CertProblem;
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
  const subtrees = readChildren(der, tlv);
  // GeneralSubtrees ::= SEQUENCE SIZE (1..MAX): an empty list would silently permit every name.
  if (subtrees.length === 0) throw new DerError('empty GeneralSubtrees');
  return subtrees.map((subtree) => {
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

/** AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer, [2] authorityCertSerialNumber } (all optional, in order). */
function decodeAuthorityKeyId(der: Buffer, out: DecodedExtensions): void {
  const fields = readChildren(der, readWhole(der, TAG_SEQUENCE));
  let last = -1;
  for (const field of fields) {
    const order = field.tag === 0x80 ? 0 : field.tag === 0xa1 ? 1 : field.tag === 0x82 ? 2 : -1;
    if (order <= last) throw new DerError('unexpected element in authorityKeyIdentifier');
    last = order;
    if (order === 0) out.authorityKeyId = Buffer.from(content(der, field));
    else if (order === 1) {
      decodeGeneralNamesIn(der, field);
      out.authorityCertIssuer = true;
    } else out.authorityCertSerial = Buffer.from(content(der, field));
  }
  // RFC 5280 4.2.1.1: the issuer and the serial come together or not at all.
  if (Boolean(out.authorityCertIssuer) !== (out.authorityCertSerial !== undefined)) throw new DerError('authorityCertIssuer without authorityCertSerialNumber or vice versa');
  if (out.authorityKeyId?.length === 0) throw new DerError('empty keyIdentifier');
}

function decodeGeneralNamesIn(der: Buffer, tlv: ReturnType<typeof readWhole>): GeneralNameValue[] {
  const names = readChildren(der, tlv).map((c) => decodeGeneralName(der, c));
  if (names.length === 0) throw new DerError('empty GeneralNames');
  return names;
}

function oidSequence(der: Buffer, what: string): ReturnType<typeof readChildren> {
  const items = readChildren(der, readWhole(der, TAG_SEQUENCE));
  if (items.length === 0) throw new DerError(`empty ${what}`);
  return items;
}

/** AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription { accessMethod OID, accessLocation GeneralName }. */
function checkAuthorityInfoAccess(der: Buffer): void {
  for (const item of oidSequence(der, 'authorityInfoAccess')) {
    if (item.tag !== TAG_SEQUENCE) throw new DerError('bad AccessDescription');
    const [method, location, ...rest] = readChildren(der, item);
    if (!method || !location || rest.length > 0) throw new DerError('bad AccessDescription');
    readOid(der, method);
    decodeGeneralName(der, location);
  }
}

function decodeCertificatePolicies(der: Buffer): string[] {
  const oids = oidSequence(der, 'certificatePolicies').map((info) => {
    if (info.tag !== TAG_SEQUENCE) throw new DerError('bad PolicyInformation');
    const [id, qualifiers, ...rest] = readChildren(der, info);
    if (!id || rest.length > 0 || (qualifiers && qualifiers.tag !== TAG_SEQUENCE)) throw new DerError('bad PolicyInformation');
    return readOid(der, id);
  });
  // RFC 5280 4.2.1.4: a policy OID MUST NOT appear more than once.
  if (new Set(oids).size !== oids.length) throw new PolicyError('a policy OID appears more than once in certificatePolicies');
  return oids;
}

function decodePolicyMappings(der: Buffer): [string, string][] {
  return oidSequence(der, 'policyMappings').map((pair) => {
    if (pair.tag !== TAG_SEQUENCE) throw new DerError('bad policy mapping');
    const [from, to, ...rest] = readChildren(der, pair);
    if (!from || !to || rest.length > 0) throw new DerError('bad policy mapping');
    return [readOid(der, from), readOid(der, to)];
  });
}

function decodePolicyConstraints(der: Buffer): { requireExplicitPolicy?: number; inhibitPolicyMapping?: number } {
  const fields = readChildren(der, readWhole(der, TAG_SEQUENCE));
  // RFC 5280 4.2.1.11: conforming CAs MUST NOT issue an empty policyConstraints.
  if (fields.length === 0) throw new DerError('empty policyConstraints');
  const out: { requireExplicitPolicy?: number; inhibitPolicyMapping?: number } = {};
  let last = -1;
  for (const field of fields) {
    const order = field.tag === 0x80 ? 0 : field.tag === 0x81 ? 1 : -1;
    if (order <= last) throw new DerError('unexpected element in policyConstraints');
    last = order;
    const value = smallInteger(content(der, field));
    if (order === 0) out.requireExplicitPolicy = value;
    else out.inhibitPolicyMapping = value;
  }
  return out;
}

/** A policy extension that decodes but breaks a rule of RFC 5280 4.2.1.4-4.2.1.14. */
class PolicyError extends DerError {}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId. */
function decodeExtKeyUsage(der: Buffer): string[] {
  return readChildren(der, readWhole(der, TAG_SEQUENCE)).map((oid) => readOid(der, oid));
}

export function decodeExtensions(extensions: readonly RawExtension[] | undefined): DecodedExtensions {
  const out: DecodedExtensions = { critical: new Map(), unknownCritical: [] };
  const note = (reason: CertProblem['reason'], detail: string): void => {
    out.problem ??= { reason, detail };
  };
  for (const ext of extensions ?? []) {
    const oid = ext.oid;
    if (out.critical.has(oid)) {
      note('duplicate_extension', `extension ${oid} appears more than once`);
      continue;
    }
    out.critical.set(oid, ext.critical);
    const value = ext.value;
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
          out.extKeyUsage = decodeExtKeyUsage(value);
          if (out.extKeyUsage.length === 0) throw new DerError('empty extKeyUsage');
          break;
        case OID.subjectAltName: {
          const outer = readWhole(value, TAG_SEQUENCE);
          if (outer.start === outer.end) {
            note('empty_san', 'subjectAltName holds no names');
            out.subjectAltName = [];
            break;
          }
          out.subjectAltName = decodeGeneralNames(value);
          const ip = out.subjectAltName.find((n) => n.type === 'ip' && n.bytes.length !== 4 && n.bytes.length !== 16);
          if (ip && ip.type === 'ip') note('bad_ip_address', `iPAddress of ${ip.bytes.length} octets in subjectAltName`);
          break;
        }
        case OID.nameConstraints:
          out.nameConstraints = decodeNameConstraints(value);
          break;
        case OID.authorityKeyId:
          decodeAuthorityKeyId(value, out);
          break;
        case OID.subjectKeyId:
          out.subjectKeyId = octets(value);
          if (out.subjectKeyId.length === 0) throw new DerError('empty subjectKeyIdentifier');
          break;
        case OID.authorityInfoAccess:
          try {
            checkAuthorityInfoAccess(value);
          } catch (err) {
            note('bad_authority_info_access', `authorityInfoAccess: ${(err as Error).message}`);
          }
          if (ext.critical) note('bad_authority_info_access', 'authorityInfoAccess marked critical (RFC 5280 4.2.2.1: MUST be non-critical)');
          break;
        case OID.certificatePolicies:
          out.certificatePolicies = decodeCertificatePolicies(value);
          break;
        case OID.policyMappings:
          out.policyMappings = decodePolicyMappings(value);
          break;
        case OID.policyConstraints:
          out.policyConstraints = decodePolicyConstraints(value);
          break;
        case OID.inhibitAnyPolicy:
          out.inhibitAnyPolicy = smallInteger(content(value, readWhole(value, TAG_INTEGER)));
          break;
        default:
          if (ext.critical && !UNDERSTOOD.has(oid)) out.unknownCritical.push(oid);
      }
    } catch (err) {
      const message = `extension ${oid}: ${(err as Error).message}`;
      const isPolicy = err instanceof PolicyError || oid === OID.certificatePolicies || oid === OID.policyMappings || oid === OID.policyConstraints || oid === OID.inhibitAnyPolicy;
      note(isPolicy ? 'bad_policy' : oid === OID.nameConstraints ? 'bad_name_constraint' : 'malformed', message);
    }
  }
  return out;
}
