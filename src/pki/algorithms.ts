/** Which signature algorithms and public keys the validator accepts (weak_signature / weak_key). */
import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509';

const OID_RSA_PSS = '1.2.840.113549.1.1.10';
const OID_SHA1 = '1.3.14.3.2.26';

/** Strong algorithms with the digest name node:crypto wants (null: the algorithm fixes it, e.g. Ed25519). */
const STRONG: Record<string, { name: string; hash: string | null; kind: 'rsa' | 'ecdsa' | 'eddsa' }> = {
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', hash: 'sha256', kind: 'rsa' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', hash: 'sha384', kind: 'rsa' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', hash: 'sha512', kind: 'rsa' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', hash: 'sha256', kind: 'ecdsa' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', hash: 'sha384', kind: 'ecdsa' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', hash: 'sha512', kind: 'ecdsa' },
  '1.3.101.112': { name: 'Ed25519', hash: null, kind: 'eddsa' },
  '1.3.101.113': { name: 'Ed448', hash: null, kind: 'eddsa' },
};

const WEAK: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.3': 'md4WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10040.4.3': 'dsa-with-SHA1',
  '2.16.840.1.101.3.4.3.1': 'dsa-with-SHA224',
  '2.16.840.1.101.3.4.3.2': 'dsa-with-SHA256',
};

export interface SignatureAlgorithmInfo {
  name: string;
  /** undefined when strong; otherwise why it is refused. */
  weakness: string | undefined;
  /** For verifying detached signatures (CRLs) with crypto.verify; undefined when we cannot. */
  verifyHash: string | null | undefined;
}

export function classifySignatureAlgorithm(alg: AlgorithmIdentifier): SignatureAlgorithmInfo {
  const strong = STRONG[alg.algorithm];
  if (strong) return { name: strong.name, weakness: undefined, verifyHash: strong.hash };
  const weak = WEAK[alg.algorithm];
  if (weak) return { name: weak, weakness: `${weak} is not accepted`, verifyHash: undefined };
  if (alg.algorithm === OID_RSA_PSS) {
    // RSASSA-PSS defaults to SHA-1 when its parameters are absent (RFC 4055).
    let hash = OID_SHA1;
    try {
      if (alg.parameters) hash = AsnConvert.parse(alg.parameters, RsaSaPssParams).hashAlgorithm.algorithm;
    } catch {
      return { name: 'RSASSA-PSS', weakness: 'undecodable RSASSA-PSS parameters', verifyHash: undefined };
    }
    const weakness = hash === OID_SHA1 ? 'RSASSA-PSS with SHA-1 is not accepted' : undefined;
    // PSS detached signatures (CRLs) would need the salt length wired through; refuse rather than guess.
    return { name: 'RSASSA-PSS', weakness, verifyHash: undefined };
  }
  return { name: alg.algorithm, weakness: `unsupported signature algorithm ${alg.algorithm}`, verifyHash: undefined };
}

const STRONG_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
export const MIN_RSA_BITS = 2048;

/** undefined for an acceptable signing key, else a description of the weakness. */
export function publicKeyWeakness(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.modulusLength ?? 0;
      return bits < MIN_RSA_BITS ? `RSA key of ${bits} bits (minimum ${MIN_RSA_BITS})` : undefined;
    }
    case 'ec':
      return details.namedCurve && STRONG_CURVES.has(details.namedCurve)
        ? undefined
        : `EC key on curve ${details.namedCurve ?? 'with explicit parameters'} is not accepted`;
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `${key.asymmetricKeyType ?? 'unknown'} keys are not accepted`;
  }
}
