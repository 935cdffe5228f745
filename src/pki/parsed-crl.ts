/**
 * ParsedCrl: a certificate revocation list decoded once for the validator. The signature is checked
 * over the TBS bytes exactly as received (never re-encoded), and the result memoised per issuer so a
 * server holding one CRL verifies it once, not on every handshake.
 */
import { createHash, verify as verifySignature } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { SecureChatError } from '../errors.js';
import { classifySignatureAlgorithm, type SignatureAlgorithmInfo } from './algorithms.js';
import type { ParsedCert } from './cert.js';
import { serialToHex } from './cert.js';
import { TAG_BIT_STRING, TAG_SEQUENCE, content, readChildren, readWhole, whole } from './der.js';
import { dnFromAsn, type DistinguishedName } from './dn.js';
import { readPemBlocks } from './pem.js';
import type { CertProblem } from './reasons.js';

const CRL_EXT = {
  crlNumber: '2.5.29.20',
  authorityKeyId: '2.5.29.35',
  reasonCode: '2.5.29.21',
  invalidityDate: '2.5.29.24',
  issuingDistributionPoint: '2.5.29.28',
  deltaCrlIndicator: '2.5.29.27',
} as const;
/** CRL reason removeFromCRL: only meaningful in delta CRLs, and never means "revoked". */
const REMOVE_FROM_CRL = 8;

export class ParsedCrl {
  readonly der: Buffer;
  readonly issuerDn: DistinguishedName;
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly signatureAlgorithm: SignatureAlgorithmInfo;
  /** Revoked serials (normalised hex, as ParsedCert.serialHex) → revocation date. */
  readonly revoked: ReadonlyMap<string, Date>;
  readonly authorityKeyId: Buffer | undefined;
  /** Critical CRL or entry extensions we cannot honour (delta CRLs, indirect CRLs, scoped CRLs): the CRL is refused. */
  readonly unsupportedCritical: string[] = [];
  /**
   * Why the validator must not use this CRL even though it is signed: no CRL number or a critical
   * one (RFC 5280 5.2.3), or a critical extension we do not implement (issuing distribution point,
   * delta CRL indicator, anything unknown; RFC 5280 5.2 says such a CRL must not be used).
   */
  readonly problem: CertProblem | undefined;
  readonly fingerprint256: string;
  private readonly tbs: Buffer;
  private readonly signature: Buffer;
  private readonly signatureResults = new Map<string, boolean>();

  private constructor(der: Buffer) {
    this.der = der;
    let asn: CertificateList;
    try {
      const outer = readWhole(der, TAG_SEQUENCE);
      const [tbs, , sig] = readChildren(der, outer);
      if (!tbs || tbs.tag !== TAG_SEQUENCE || !sig || sig.tag !== TAG_BIT_STRING) throw new Error('not a CertificateList');
      this.tbs = Buffer.from(whole(der, tbs));
      const bits = content(der, sig);
      if (bits.length < 2 || bits[0] !== 0) throw new Error('bad signature BIT STRING');
      this.signature = Buffer.from(bits.subarray(1));
      asn = AsnConvert.parse(der, CertificateList);
    } catch (err) {
      throw new SecureChatError('bad_crl', 'The CRL is not a DER X.509 CRL.', { reason: 'malformed', cause: err });
    }
    const tbs = asn.tbsCertList;
    this.issuerDn = dnFromAsn(tbs.issuer);
    this.issuer = this.issuerDn.text;
    this.thisUpdate = tbs.thisUpdate.getTime();
    this.nextUpdate = tbs.nextUpdate?.getTime();
    this.signatureAlgorithm = classifySignatureAlgorithm(asn.signatureAlgorithm);
    this.fingerprint256 = createHash('sha256').update(der).digest('hex');
    let authorityKeyId: Buffer | undefined;
    let crlNumber: boolean | undefined;
    for (const ext of tbs.crlExtensions ?? []) {
      if (ext.extnID === CRL_EXT.crlNumber) crlNumber = ext.critical;
      if (ext.extnID === CRL_EXT.authorityKeyId) {
        // AuthorityKeyIdentifier: SEQUENCE { [0] keyIdentifier OPTIONAL, … }
        const value = Buffer.from(ext.extnValue.buffer);
        const keyId = readChildren(value, readWhole(value, TAG_SEQUENCE)).find((c) => c.tag === 0x80);
        if (keyId) authorityKeyId = Buffer.from(content(value, keyId));
      } else if (ext.critical && ext.extnID !== CRL_EXT.crlNumber) {
        this.unsupportedCritical.push(ext.extnID);
      }
    }
    this.authorityKeyId = authorityKeyId;
    const revoked = new Map<string, Date>();
    for (const entry of tbs.revokedCertificates ?? []) {
      let removed = false;
      for (const ext of entry.crlEntryExtensions ?? []) {
        if (ext.extnID === CRL_EXT.reasonCode) {
          const value = Buffer.from(ext.extnValue.buffer);
          removed = value.length === 3 && value[2] === REMOVE_FROM_CRL;
        } else if (ext.critical && ext.extnID !== CRL_EXT.invalidityDate) {
          this.unsupportedCritical.push(ext.extnID);
        }
      }
      if (!removed) revoked.set(serialToHex(Buffer.from(entry.userCertificate)), entry.revocationDate.getTime());
    }
    this.revoked = revoked;
    this.problem =
      crlNumber === undefined
        ? { reason: 'crl_number_missing', detail: 'no CRL number extension (RFC 5280 5.2.3: MUST be included)' }
        : crlNumber
          ? { reason: 'crl_number_critical', detail: 'the CRL number extension is marked critical (RFC 5280 5.2.3: MUST be non-critical)' }
          : this.unsupportedCritical.length > 0
            ? { reason: 'crl_unsupported_critical', detail: `unsupported critical extension ${this.unsupportedCritical.join(', ')}` }
            : undefined;
  }

  /** Throws SecureChatError('bad_crl', …, { reason: 'malformed' }) when the DER is not a CRL. */
  static fromDer(der: Buffer): ParsedCrl {
    return new ParsedCrl(Buffer.from(der));
  }

  /** Whether `issuer`'s key verifies this CRL's signature (memoised per issuer; weak or unsupported algorithms never verify). */
  isSignedBy(issuer: ParsedCert): boolean {
    let result = this.signatureResults.get(issuer.fingerprint256);
    if (result === undefined) {
      const hash = this.signatureAlgorithm.verifyHash;
      try {
        result = hash !== undefined && issuer.publicKey !== undefined && verifySignature(hash, this.tbs, issuer.publicKey, this.signature);
      } catch {
        result = false;
      }
      this.signatureResults.set(issuer.fingerprint256, result);
    }
    return result;
  }

  isRevoked(cert: ParsedCert): boolean {
    return this.revoked.has(cert.serialHex);
  }
}

/** The default for a CRL block that does not decode: unusable input. */
function undecodableCrl(index: number, err: unknown): Error {
  return new SecureChatError('bad_input', `PEM CRL #${index + 1} is not a valid X.509 CRL.`, { reason: 'malformed', cause: err });
}

/**
 * Every "X509 CRL" block of a PEM text. Throws SecureChatError('bad_input') when none is found, and
 * `undecodable(index, cause)` (default: bad_input) for a block that is not a DER CRL — `ca verify`
 * makes that a failed validation instead, since revocation fails closed.
 */
export function parseCrlsPem(text: string, undecodable: (index: number, err: unknown) => Error = undecodableCrl): ParsedCrl[] {
  const blocks = readPemBlocks(text).filter((b) => b.label === 'X509 CRL');
  if (blocks.length === 0) throw new SecureChatError('bad_input', 'No PEM X509 CRL block found.');
  return blocks.map((b, i) => {
    try {
      return ParsedCrl.fromDer(b.der);
    } catch (err) {
      throw undecodable(i, err);
    }
  });
}
