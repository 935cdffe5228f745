/** Human- and machine-readable summaries of a certificate, CSR or CRL file (PEM label decides). */
import { createPublicKey } from 'node:crypto';
import { SecureChatError } from '../errors.js';
import { readPemBlocks, type PemBlock } from './pem.js';
import { x509 } from './x509.js';

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

export interface CertificateSummary {
  type: 'certificate';
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  key: string;
  signatureAlgorithm: string;
  ca: boolean;
  pathLength?: number;
  keyUsage: string[];
  extendedKeyUsage: string[];
  sans: string[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  sha256Fingerprint: string;
}

export interface CsrSummary {
  type: 'csr';
  subject: string;
  key: string;
  signatureAlgorithm: string;
  signatureValid: boolean;
  sans: string[];
}

export interface CrlSummary {
  type: 'crl';
  issuer: string;
  thisUpdate: string;
  nextUpdate?: string;
  crlNumber?: string;
  signatureAlgorithm: string;
  revoked: { serial: string; revokedAt: string; reason?: string }[];
}

export type Summary = CertificateSummary | CsrSummary | CrlSummary;

function describeKey(spki: ArrayBuffer): string {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `EC ${d.namedCurve === 'prime256v1' ? 'P-256' : d.namedCurve === 'secp384r1' ? 'P-384' : d.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength}`;
  return (key.asymmetricKeyType ?? 'unknown').replace(/^ed/, 'Ed');
}

function describeAlgorithm(alg: Algorithm & { hash?: Algorithm }): string {
  return alg.hash ? `${alg.name} with ${alg.hash.name}` : alg.name;
}

function sanList(ext: x509.SubjectAlternativeNameExtension | null): string[] {
  return ext ? ext.names.items.map((n) => `${n.type === 'ip' ? 'IP' : n.type === 'dns' ? 'DNS' : n.type}:${n.value}`) : [];
}

function keyUsageNames(flags: number): string[] {
  return Object.entries(x509.KeyUsageFlags)
    .filter(([name, bit]) => typeof bit === 'number' && isNaN(Number(name)) && (flags & bit) !== 0)
    .map(([name]) => name);
}

async function summariseCertificate(der: Uint8Array<ArrayBuffer>): Promise<CertificateSummary> {
  const cert = new x509.X509Certificate(der);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  return {
    type: 'certificate',
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    key: describeKey(cert.publicKey.rawData),
    signatureAlgorithm: describeAlgorithm(cert.signatureAlgorithm as Algorithm & { hash?: Algorithm }),
    ca: bc?.ca ?? false,
    ...(bc?.pathLength !== undefined ? { pathLength: bc.pathLength } : {}),
    keyUsage: ku ? keyUsageNames(ku.usages) : [],
    extendedKeyUsage: eku ? eku.usages.map((u) => EKU_NAMES[String(u)] ?? String(u)) : [],
    sans: sanList(cert.getExtension(x509.SubjectAlternativeNameExtension)),
    ...(ski ? { subjectKeyId: ski.keyId } : {}),
    ...(aki?.keyId ? { authorityKeyId: aki.keyId } : {}),
    sha256Fingerprint: Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex'),
  };
}

async function summariseCsr(der: Uint8Array<ArrayBuffer>): Promise<CsrSummary> {
  const csr = new x509.Pkcs10CertificateRequest(der);
  let signatureValid = false;
  try {
    signatureValid = await csr.verify();
  } catch {
    signatureValid = false;
  }
  const sanExt = csr.extensions.find((e) => e.type === '2.5.29.17');
  return {
    type: 'csr',
    subject: csr.subject,
    key: describeKey(csr.publicKey.rawData),
    signatureAlgorithm: describeAlgorithm(csr.signatureAlgorithm as Algorithm & { hash?: Algorithm }),
    signatureValid,
    sans: sanList(sanExt ? new x509.SubjectAlternativeNameExtension(sanExt.rawData) : null),
  };
}

function readDerInteger(value: ArrayBuffer): string | undefined {
  const b = Buffer.from(value);
  if (b[0] !== 0x02 || b[1] !== b.length - 2) return undefined;
  return BigInt('0x' + (b.subarray(2).toString('hex') || '0')).toString();
}

function summariseCrl(der: Uint8Array<ArrayBuffer>): CrlSummary {
  const crl = new x509.X509Crl(der);
  const number = crl.getExtension('2.5.29.20');
  const crlNumber = number ? readDerInteger(number.value) : undefined;
  return {
    type: 'crl',
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate.toISOString(),
    ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.toISOString() } : {}),
    ...(crlNumber !== undefined ? { crlNumber } : {}),
    signatureAlgorithm: describeAlgorithm(crl.signatureAlgorithm as Algorithm & { hash?: Algorithm }),
    revoked: crl.entries.map((e) => ({
      serial: e.serialNumber.toLowerCase(),
      revokedAt: e.revocationDate.toISOString(),
      ...(e.reason !== undefined ? { reason: x509.X509CrlReason[e.reason] } : {}),
    })),
  };
}

async function summariseBlock(block: PemBlock): Promise<Summary | undefined> {
  const der = new Uint8Array(block.der);
  try {
    if (block.label === 'CERTIFICATE') return await summariseCertificate(der);
    if (block.label === 'CERTIFICATE REQUEST' || block.label === 'NEW CERTIFICATE REQUEST') return await summariseCsr(der);
    if (block.label === 'X509 CRL') return summariseCrl(der);
  } catch (err) {
    throw new SecureChatError('bad_input', `The ${block.label} block could not be decoded.`, { cause: err });
  }
  return undefined;
}

/** Summaries of every certificate, CSR and CRL block in the PEM text, in order. */
export async function inspectPem(text: string): Promise<Summary[]> {
  const summaries: Summary[] = [];
  for (const block of readPemBlocks(text)) {
    const s = await summariseBlock(block);
    if (s) summaries.push(s);
  }
  if (summaries.length === 0) throw new SecureChatError('bad_input', 'No PEM certificate, certificate request or CRL found.');
  return summaries;
}

/** The human form printed by `ca inspect`. */
export function formatSummary(s: Summary): string {
  const rows: [string, string | undefined][] = [];
  if (s.type === 'certificate') {
    rows.push(
      ['Certificate', s.subject],
      ['Issuer', s.issuer],
      ['Serial', s.serial],
      ['Valid', `${s.notBefore} .. ${s.notAfter}`],
      ['Key', s.key],
      ['Signature', s.signatureAlgorithm],
      ['CA', s.ca ? `yes${s.pathLength !== undefined ? ` (pathLen ${s.pathLength})` : ''}` : 'no'],
      ['Key usage', s.keyUsage.join(', ') || undefined],
      ['Ext. key usage', s.extendedKeyUsage.join(', ') || undefined],
      ['SANs', s.sans.join(', ') || undefined],
      ['SKI', s.subjectKeyId],
      ['AKI', s.authorityKeyId],
      ['SHA-256', s.sha256Fingerprint],
    );
  } else if (s.type === 'csr') {
    rows.push(['CSR', s.subject], ['Key', s.key], ['Signature', `${s.signatureAlgorithm} (${s.signatureValid ? 'valid' : 'INVALID'})`], ['SANs', s.sans.join(', ') || undefined]);
  } else {
    rows.push(
      ['CRL', s.issuer],
      ['This update', s.thisUpdate],
      ['Next update', s.nextUpdate],
      ['CRL number', s.crlNumber],
      ['Signature', s.signatureAlgorithm],
      ['Revoked', s.revoked.length === 0 ? 'none' : s.revoked.map((r) => `${r.serial} ${r.revokedAt}${r.reason ? ` ${r.reason}` : ''}`).join('\n' + ' '.repeat(16))],
    );
  }
  return rows
    .filter((r): r is [string, string] => r[1] !== undefined)
    .map(([k, v]) => `${(k + ':').padEnd(16)}${v}`)
    .join('\n');
}
