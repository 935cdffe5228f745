/**
 * ParsedCert: one certificate decoded once — node:crypto's X509Certificate for signatures and the
 * public key, @peculiar/asn1-x509 plus our DER reader for everything the policy needs. Instances are
 * cached by the SHA-256 of their DER (bounded, least-recently-used) so a server that sees the same
 * intermediates on every handshake neither re-parses them nor re-checks their signatures.
 */
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { SecureChatError } from '../errors.js';
import { classifySignatureAlgorithm, publicKeyWeakness, type SignatureAlgorithmInfo } from './algorithms.js';
import { readCertificate, type CertificateLayout } from './cert-encoding.js';
import { readChildren, readOid, readWhole, TAG_SEQUENCE, whole } from './der.js';
import { dnFromDer, type DistinguishedName } from './dn.js';
import { decodeExtensions, type DecodedExtensions } from './extensions.js';
import type { GeneralNameValue } from './general-names.js';
import { readPemCertificates } from './pem.js';
import type { CertProblem } from './reasons.js';

const CACHE_LIMIT = 2048;
const cache = new Map<string, ParsedCert>();

/** Normalised serial: uppercase hex of the magnitude, no leading zeros (the form CRL entries are compared in). */
export function serialToHex(raw: Buffer): string {
  const hex = raw.toString('hex').replace(/^(00)+/, '').toUpperCase();
  return hex === '' ? '00' : hex;
}

/** AlgorithmIdentifier from DER without the schema layer (OID + raw parameters; only PSS reads them). */
function algorithmIdentifier(der: Buffer): AlgorithmIdentifier {
  const [oid, params] = readChildren(der, readWhole(der, TAG_SEQUENCE));
  const parameters = params ? new Uint8Array(whole(der, params)).buffer : undefined;
  return new AlgorithmIdentifier({ algorithm: readOid(der, oid), ...(parameters ? { parameters } : {}) });
}

function malformedError(detail: string, cause?: unknown): SecureChatError {
  return new SecureChatError('bad_certificate', `Malformed certificate: ${detail}.`, { reason: 'malformed', cause });
}

export class ParsedCert {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  readonly subject: string;
  readonly issuer: string;
  readonly subjectDn: DistinguishedName;
  readonly issuerDn: DistinguishedName;
  readonly commonName: string | undefined;
  /** SHA-256 of the DER, uppercase hex pairs separated by colons (the format node and openssl print). */
  readonly fingerprint256: string;
  readonly serialHex: string;
  /** undefined when node:crypto cannot parse the subjectPublicKeyInfo (`problem` says bad_public_key). */
  readonly publicKey: KeyObject | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** X.509 version number: 1, 2 or 3. */
  readonly version: number;
  readonly signatureAlgorithm: SignatureAlgorithmInfo;
  readonly extensions: DecodedExtensions;
  /** Subject and issuer names are equal (RFC 5280 "self-issued"): exempt from pathLen counting. */
  readonly selfIssued: boolean;
  /**
   * First problem of the certificate on its own (encoding, serial, times, key, extension contents),
   * independent of its position in a path: the validator reports it with this reason code.
   */
  readonly problem: CertProblem | undefined;
  /** undefined for an acceptable key, else why it is weak. */
  readonly keyWeakness: string | undefined;
  /** Signature results by issuer fingerprint: each (child, issuer) pair is checked once. */
  private readonly signatureResults = new Map<string, boolean>();

  private constructor(der: Buffer, digestHex: string) {
    this.der = der;
    let layout: CertificateLayout;
    let outerAlgorithm: AlgorithmIdentifier;
    try {
      layout = readCertificate(der);
      this.x509 = new X509Certificate(der);
      outerAlgorithm = algorithmIdentifier(layout.outerAlgorithm);
      this.subjectDn = dnFromDer(layout.subject);
      this.issuerDn = dnFromDer(layout.issuer);
    } catch (err) {
      throw malformedError('not a DER X.509 certificate', err);
    }
    this.subject = this.subjectDn.text;
    this.issuer = this.issuerDn.text;
    this.commonName = this.subjectDn.commonName;
    this.fingerprint256 = digestHex.toUpperCase().replace(/(..)(?!$)/g, '$1:');
    this.serialHex = serialToHex(layout.serial);
    let publicKey: KeyObject | undefined;
    try {
      publicKey = this.x509.publicKey;
    } catch {
      publicKey = undefined;
    }
    this.publicKey = publicKey;
    this.notBefore = layout.notBefore;
    this.notAfter = layout.notAfter;
    this.version = layout.version;
    this.signatureAlgorithm = classifySignatureAlgorithm(outerAlgorithm);
    this.extensions = decodeExtensions(layout.extensions);
    this.selfIssued = this.subjectDn.key === this.issuerDn.key;
    this.keyWeakness = publicKey ? publicKeyWeakness(publicKey) : undefined;
    const encoding = layout.problem;
    const keyProblem: CertProblem | undefined = publicKey ? undefined : { reason: 'bad_public_key', detail: 'the subjectPublicKeyInfo cannot be parsed' };
    const emptyNames: CertProblem | undefined =
      this.subjectDn.rdns.length === 0 && !this.extensions.subjectAltName ? { reason: 'malformed', detail: 'empty subject and no subjectAltName' } : undefined;
    // Encoding first: an explicit-curve key is reported as such, not as an unparsable key.
    this.problem = encoding ?? keyProblem ?? this.extensions.problem ?? emptyNames;
  }

  /** Parses (or fetches from the cache) one DER certificate. Throws SecureChatError('bad_certificate', reason 'malformed'). */
  static fromDer(der: Buffer): ParsedCert {
    const digest = createHash('sha256').update(der).digest('hex');
    const hit = cache.get(digest);
    if (hit) {
      cache.delete(digest);
      cache.set(digest, hit);
      return hit;
    }
    const parsed = new ParsedCert(Buffer.from(der), digest);
    cache.set(digest, parsed);
    if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    return parsed;
  }

  /** Empties the DER cache (benchmarks measure the cost of a never-seen certificate). */
  static clearCache(): void {
    cache.clear();
  }

  get subjectAltNames(): readonly GeneralNameValue[] {
    return this.extensions.subjectAltName ?? [];
  }

  get isCa(): boolean {
    return this.extensions.basicConstraints?.ca === true;
  }

  /** Whether `issuer`'s key verifies this certificate's signature (memoised per issuer). */
  isSignedBy(issuer: ParsedCert): boolean {
    let result = this.signatureResults.get(issuer.fingerprint256);
    if (result === undefined) {
      try {
        result = issuer.publicKey !== undefined && this.x509.verify(issuer.publicKey);
      } catch {
        result = false;
      }
      this.signatureResults.set(issuer.fingerprint256, result);
    }
    return result;
  }

  toPem(): string {
    return this.x509.toString();
  }
}

/** Every CERTIFICATE block of a PEM text. Throws SecureChatError('bad_input') on garbage or when none is found. */
export function parseCertificatesPem(text: string): ParsedCert[] {
  const blocks = readPemCertificates(text);
  return blocks.map((der, i) => {
    try {
      return ParsedCert.fromDer(der);
    } catch (err) {
      throw new SecureChatError('bad_input', `PEM certificate #${i + 1} is not a valid X.509 certificate.`, { reason: 'malformed', cause: err });
    }
  });
}
