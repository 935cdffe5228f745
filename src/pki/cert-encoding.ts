/**
 * Encoding rules of one certificate that the schema layer does not enforce, read from the DER as
 * received: version field, serial number, the two signature AlgorithmIdentifiers, validity time
 * formats, unique identifiers and the subjectPublicKeyInfo (named curves only, whole-byte RSA
 * moduli). Each problem carries its own reason code.
 */
import {
  DerError, TAG_BIT_STRING, TAG_GENERALIZED_TIME, TAG_INTEGER, TAG_OID, TAG_SEQUENCE, TAG_UTC_TIME, content, isMinimalInteger,
  readChildren, readOid, readTlv, readWhole, whole, type Tlv,
} from './der.js';
import type { CertProblem } from './reasons.js';

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

const problem = (reason: CertProblem['reason'], detail: string): CertProblem => ({ reason, detail });

/** RFC 5280 4.1.2.2: positive, non-zero, at most 20 octets of value; DER: minimal. */
export function serialProblem(raw: Buffer): string | undefined {
  if (raw.length === 0) return 'empty serial number';
  if (!isMinimalInteger(raw)) return 'serial number not minimally encoded';
  if (raw[0] & 0x80) return 'negative serial number';
  const magnitude = raw[0] === 0 && raw.length > 1 ? raw.subarray(1) : raw;
  if (magnitude.every((b) => b === 0)) return 'serial number zero';
  if (magnitude.length > 20) return `serial number of ${magnitude.length} octets (maximum 20)`;
  return undefined;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ through 2049, GeneralizedTime YYYYMMDDHHMMSSZ from 2050. */
export function timeProblem(buf: Buffer, tlv: Tlv): string | undefined {
  const text = content(buf, tlv).toString('latin1');
  let year: number;
  let rest: string;
  if (tlv.tag === TAG_UTC_TIME) {
    if (!/^\d{12}Z$/.test(text)) return `UTCTime "${text}" is not YYMMDDHHMMSSZ`;
    const yy = Number(text.slice(0, 2));
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    rest = text.slice(2);
  } else if (tlv.tag === TAG_GENERALIZED_TIME) {
    if (!/^\d{14}Z$/.test(text)) return `GeneralizedTime "${text}" is not YYYYMMDDHHMMSSZ`;
    year = Number(text.slice(0, 4));
    if (year < 2050) return `GeneralizedTime for ${year}: dates before 2050 must be UTCTime`;
    rest = text.slice(4);
  } else {
    return 'validity time is neither UTCTime nor GeneralizedTime';
  }
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2)));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1];
  if (month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return `invalid date "${text}"`;
  return undefined;
}

function spkiProblem(buf: Buffer, spki: Tlv): CertProblem | undefined {
  const [algorithm, key] = readChildren(buf, spki);
  if (!algorithm || algorithm.tag !== TAG_SEQUENCE || !key || key.tag !== TAG_BIT_STRING) throw new DerError('bad SubjectPublicKeyInfo');
  const [oid, params] = readChildren(buf, algorithm);
  const algorithmOid = readOid(buf, oid);
  if (algorithmOid === OID_EC_PUBLIC_KEY && params?.tag !== TAG_OID) {
    return problem('explicit_curve_params', 'EC public key without a named curve (explicit or implicit parameters)');
  }
  if (algorithmOid === OID_RSA_ENCRYPTION) {
    const bits = content(buf, key);
    if (bits.length < 2 || bits[0] !== 0) throw new DerError('bad RSA key BIT STRING');
    const rsa = Buffer.from(bits.subarray(1));
    const [modulus] = readChildren(rsa, readWhole(rsa, TAG_SEQUENCE));
    if (!modulus || modulus.tag !== TAG_INTEGER) throw new DerError('bad RSAPublicKey');
    const n = content(rsa, modulus);
    const magnitude = n[0] === 0 && n.length > 1 ? n.subarray(1) : n;
    if ((magnitude[0] & 0x80) === 0) {
      const bitLength = magnitude.length * 8 - Math.clz32(magnitude[0]) + 24;
      return problem('rsa_modulus_not_whole_bytes', `RSA modulus of ${bitLength} bits is not a whole number of bytes`);
    }
  }
  return undefined;
}

/** The first encoding problem of a certificate's DER, or undefined. Structural errors are `malformed`. */
export function certificateEncodingProblem(der: Buffer): CertProblem | undefined {
  try {
    const outer = readWhole(der, TAG_SEQUENCE);
    const [tbs, outerAlgorithm] = readChildren(der, outer);
    if (!tbs || tbs.tag !== TAG_SEQUENCE || !outerAlgorithm) throw new DerError('not a Certificate');
    const fields = readChildren(der, tbs);
    let i = 0;
    let version = 0;
    if (fields[i]?.tag === 0xa0) {
      const inner = readTlv(der, fields[i].start, fields[i].end);
      const value = content(der, inner);
      if (inner.tag !== TAG_INTEGER || value.length !== 1) throw new DerError('bad version field');
      version = value[0];
      // DER: the DEFAULT v1 is never written out.
      if (version === 0) return problem('malformed', 'version v1 encoded explicitly');
      i++;
    }
    const [serial, innerAlgorithm, , validity, , spki, ...optional] = fields.slice(i);
    if (!serial || serial.tag !== TAG_INTEGER || !innerAlgorithm || !validity || validity.tag !== TAG_SEQUENCE || !spki) {
      throw new DerError('incomplete TBSCertificate');
    }
    if (!whole(der, innerAlgorithm).equals(whole(der, outerAlgorithm))) {
      return problem('signature_algorithm_mismatch', 'signatureAlgorithm differs from the TBSCertificate signature field');
    }
    const serialIssue = serialProblem(Buffer.from(content(der, serial)));
    if (serialIssue) return problem('bad_serial', serialIssue);
    for (const time of readChildren(der, validity)) {
      const issue = timeProblem(der, time);
      if (issue) return problem('bad_time_encoding', issue);
    }
    const uniqueIds = optional.filter((f) => f.tag === 0x81 || f.tag === 0xa1 || f.tag === 0x82 || f.tag === 0xa2);
    // RFC 5280 allows them in v2/v3, the CABF profile forbids them, and we never need them.
    if (uniqueIds.length > 0) return problem('unique_id_present', 'issuerUniqueID/subjectUniqueID present');
    if (version < 2 && optional.some((f) => f.tag === 0xa3)) return problem('unsupported_version', `extensions in an X.509 v${version + 1} certificate`);
    try {
      return spkiProblem(der, spki);
    } catch (err) {
      return problem('bad_public_key', `subjectPublicKeyInfo: ${err instanceof Error ? err.message : String(err)}`);
    }
  } catch (err) {
    return problem('malformed', err instanceof Error ? err.message : String(err));
  }
}
