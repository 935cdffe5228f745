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

const TAG_NULL = 0x05;
/** PKCS#1 v1.5 signatures and rsaEncryption keys: parameters MUST be NULL (RFC 4055 5, RFC 3279 2.3.1). */
const PARAMS_NULL = new Set([
  '1.2.840.113549.1.1.1', '1.2.840.113549.1.1.2', '1.2.840.113549.1.1.3', '1.2.840.113549.1.1.4', '1.2.840.113549.1.1.5',
  '1.2.840.113549.1.1.11', '1.2.840.113549.1.1.12', '1.2.840.113549.1.1.13', '1.2.840.113549.1.1.14',
]);
/** ECDSA signatures (RFC 5758 3.2) and Ed25519/Ed448 (RFC 8410 3): parameters MUST be absent. */
const PARAMS_ABSENT = new Set(['1.2.840.10045.4.1', '1.2.840.10045.4.3.1', '1.2.840.10045.4.3.2', '1.2.840.10045.4.3.3', '1.2.840.10045.4.3.4', '1.3.101.112', '1.3.101.113']);

/**
 * An AlgorithmIdentifier whose parameters break its algorithm's rule (NULL where absent is required
 * or the reverse, anything else inside): the web profile's validators (rustls-webpki) compare these
 * byte for byte, and a lenient reading is what signature-confusion tricks feed on.
 */
export function algorithmParametersProblem(buf: Buffer, algorithm: Tlv): string | undefined {
  const [oid, params, ...rest] = readChildren(buf, algorithm);
  if (!oid || oid.tag !== TAG_OID) throw new DerError('bad AlgorithmIdentifier');
  const id = readOid(buf, oid);
  if (rest.length > 0) return `AlgorithmIdentifier ${id} has more than one parameters field`;
  if (PARAMS_NULL.has(id) && !(params && params.tag === TAG_NULL && params.start === params.end)) return `${id} requires NULL parameters`;
  if (PARAMS_ABSENT.has(id) && params) return `${id} requires absent parameters`;
  return undefined;
}

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
  const paramsIssue = algorithmParametersProblem(buf, algorithm);
  if (paramsIssue) return problem('bad_algorithm_parameters', `subjectPublicKeyInfo: ${paramsIssue}`);
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

export interface RawExtension {
  oid: string;
  critical: boolean;
  /** extnValue's content: the DER of the extension's own structure. */
  value: Buffer;
}

/** What ParsedCert needs from the DER, read without a schema layer (which costs more than the signature check). */
export interface CertificateLayout {
  /** 1, 2 or 3 (anything else is reported as unsupported_version). */
  version: number;
  serial: Buffer;
  /** DER of the outer signatureAlgorithm. */
  outerAlgorithm: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: RawExtension[] | undefined;
  /** First encoding problem (see certificateEncodingProblem), or undefined. */
  problem: CertProblem | undefined;
}

/** A validity time as a Date, read leniently (timeProblem says whether it is well-formed); NaN when unreadable. */
function timeValue(buf: Buffer, tlv: Tlv): Date {
  const text = content(buf, tlv).toString('latin1');
  const m = tlv.tag === TAG_UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?Z$/.exec(text);
  if (!m) return new Date(NaN);
  let year = Number(m[1]);
  if (tlv.tag === TAG_UTC_TIME) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
}

function readExtensions(buf: Buffer, wrapper: Tlv): RawExtension[] {
  const inner = readTlv(buf, wrapper.start, wrapper.end);
  if (inner.end !== wrapper.end || inner.tag !== TAG_SEQUENCE) throw new DerError('bad extensions wrapper');
  const items = readChildren(buf, inner);
  if (items.length === 0) throw new DerError('empty Extensions');
  return items.map((item) => {
    if (item.tag !== TAG_SEQUENCE) throw new DerError('bad Extension');
    const fields = readChildren(buf, item);
    if (!fields[0]) throw new DerError('bad Extension');
    const oid = readOid(buf, fields[0]);
    let i = 1;
    let critical = false;
    if (fields[i]?.tag === 0x01) {
      const flag = content(buf, fields[i]);
      if (flag.length !== 1) throw new DerError('bad BOOLEAN');
      critical = flag[0] !== 0;
      i++;
    }
    const value = fields[i];
    if (!value || value.tag !== 0x04 || i + 1 !== fields.length) throw new DerError('bad Extension');
    return { oid, critical, value: Buffer.from(content(buf, value)) };
  });
}

/**
 * Reads a Certificate's structure (throws DerError when it is not one) and finds its first
 * encoding problem: version field, signature algorithms, serial, times, unique IDs, public key.
 */
export function readCertificate(der: Buffer): CertificateLayout {
  const outer = readWhole(der, TAG_SEQUENCE);
  const [tbs, outerAlgorithm, signature, ...extra] = readChildren(der, outer);
  if (!tbs || tbs.tag !== TAG_SEQUENCE || !outerAlgorithm || outerAlgorithm.tag !== TAG_SEQUENCE || !signature || signature.tag !== TAG_BIT_STRING || extra.length > 0) {
    throw new DerError('not a Certificate');
  }
  const fields = readChildren(der, tbs);
  let i = 0;
  let versionValue = 0;
  let explicitV1 = false;
  if (fields[i]?.tag === 0xa0) {
    const inner = readTlv(der, fields[i].start, fields[i].end);
    const value = content(der, inner);
    if (inner.tag !== TAG_INTEGER || value.length !== 1 || inner.end !== fields[i].end) throw new DerError('bad version field');
    versionValue = value[0];
    explicitV1 = versionValue === 0;
    i++;
  }
  const [serial, innerAlgorithm, issuer, validity, subject, spki, ...optional] = fields.slice(i);
  if (
    !serial || serial.tag !== TAG_INTEGER || !innerAlgorithm || innerAlgorithm.tag !== TAG_SEQUENCE || !issuer || issuer.tag !== TAG_SEQUENCE ||
    !validity || validity.tag !== TAG_SEQUENCE || !subject || subject.tag !== TAG_SEQUENCE || !spki || spki.tag !== TAG_SEQUENCE
  ) {
    throw new DerError('incomplete TBSCertificate');
  }
  const times = readChildren(der, validity);
  if (times.length !== 2) throw new DerError('bad Validity');
  let extensions: RawExtension[] | undefined;
  let last = 0;
  for (const field of optional) {
    const order = field.tag === 0x81 || field.tag === 0xa1 ? 1 : field.tag === 0x82 || field.tag === 0xa2 ? 2 : field.tag === 0xa3 ? 3 : -1;
    if (order <= last) throw new DerError('unexpected field in TBSCertificate');
    last = order;
    if (order === 3) extensions = readExtensions(der, field);
  }
  const serialBytes = Buffer.from(content(der, serial));
  const layout: CertificateLayout = {
    version: versionValue + 1,
    serial: serialBytes,
    outerAlgorithm: Buffer.from(whole(der, outerAlgorithm)),
    issuer: Buffer.from(whole(der, issuer)),
    subject: Buffer.from(whole(der, subject)),
    notBefore: timeValue(der, times[0]),
    notAfter: timeValue(der, times[1]),
    extensions,
    problem: undefined,
  };
  layout.problem = (() => {
    // DER: the DEFAULT v1 is never written out.
    if (explicitV1) return problem('malformed', 'version v1 encoded explicitly');
    if (!whole(der, innerAlgorithm).equals(whole(der, outerAlgorithm))) {
      return problem('signature_algorithm_mismatch', 'signatureAlgorithm differs from the TBSCertificate signature field');
    }
    const algorithmIssue = algorithmParametersProblem(der, outerAlgorithm);
    if (algorithmIssue) return problem('bad_algorithm_parameters', `signatureAlgorithm: ${algorithmIssue}`);
    const serialIssue = serialProblem(serialBytes);
    if (serialIssue) return problem('bad_serial', serialIssue);
    for (const time of times) {
      const issue = timeProblem(der, time);
      if (issue) return problem('bad_time_encoding', issue);
    }
    // RFC 5280 allows them in v2/v3, the CABF profile forbids them, and we never need them.
    if (optional.some((f) => f.tag !== 0xa3)) return problem('unique_id_present', 'issuerUniqueID/subjectUniqueID present');
    if (versionValue < 2 && extensions) return problem('unsupported_version', `extensions in an X.509 v${versionValue + 1} certificate`);
    try {
      return spkiProblem(der, spki);
    } catch (err) {
      return problem('bad_public_key', `subjectPublicKeyInfo: ${err instanceof Error ? err.message : String(err)}`);
    }
  })();
  return layout;
}

/** The first encoding problem of a certificate's DER, or undefined. Structural errors are `malformed`. */
export function certificateEncodingProblem(der: Buffer): CertProblem | undefined {
  try {
    return readCertificate(der).problem;
  } catch (err) {
    return problem('malformed', err instanceof Error ? err.message : String(err));
  }
}
