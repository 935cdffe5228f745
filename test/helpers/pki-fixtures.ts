/**
 * Test certificate factory for the validator: builds TBSCertificate / TBSCertList structures with
 * @peculiar/asn1-x509 and signs them with node:crypto, so a test can produce any certificate,
 * including ones no sane CA tool would issue (duplicate or unknown critical extensions, v1 CAs,
 * negative serials, SHA-1 / MD5 signatures, 1024-bit RSA, empty SANs).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints, Certificate,
  CertificateList, Extension, Extensions, ExtendedKeyUsage, GeneralName, GeneralSubtree, GeneralSubtrees, KeyIdentifier, KeyUsage, Name,
  NameConstraints, RelativeDistinguishedName, RevokedCertificate, SubjectAlternativeName, SubjectKeyIdentifier,
  SubjectPublicKeyInfo, TBSCertList, TBSCertificate, Time, Validity, Version, id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage, id_ce_nameConstraints, id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { OctetString } from '@peculiar/asn1-schema';
import { ParsedCert } from '../../src/pki/cert.js';
import { ParsedCrl } from '../../src/pki/parsed-crl.js';

export const DAY = 86_400_000;
export const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';
export const EKU_ANY = '2.5.29.37.0';
export const KU_DIGITAL_SIGNATURE = 1;
export const KU_KEY_ENCIPHERMENT = 4;
export const KU_KEY_CERT_SIGN = 32;
export const KU_CRL_SIGN = 64;

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function ecKey(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

export function rsaKey(bits: number): KeyPair {
  return generateKeyPairSync('rsa', { modulusLength: bits });
}

export interface Fixture {
  der: Buffer;
  pem: string;
  key: KeyPair;
  /** Subject name as written in the spec, e.g. `CN=Root`. */
  name: string;
  ski: Buffer;
  /** The parsed certificate (throws on access when the DER is beyond what ParsedCert parses). */
  cert: ParsedCert;
}

/** A DER node for editing encodings no schema would produce: primitive (content) or constructed (children). */
export interface DerNode {
  tag: number;
  content?: Buffer;
  children?: DerNode[];
}

export function derParse(buf: Buffer): DerNode {
  const read = (offset: number): { node: DerNode; end: number } => {
    const tag = buf[offset];
    let pos = offset + 1;
    let length = buf[pos++];
    if (length & 0x80) {
      const count = length & 0x7f;
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + buf[pos++];
    }
    const end = pos + length;
    if (tag & 0x20) {
      const children: DerNode[] = [];
      let at = pos;
      while (at < end) {
        const child = read(at);
        children.push(child.node);
        at = child.end;
      }
      return { node: { tag, children }, end };
    }
    return { node: { tag, content: Buffer.from(buf.subarray(pos, end)) }, end };
  };
  return read(0).node;
}

export function derEncode(node: DerNode): Buffer {
  const body = node.children ? Buffer.concat(node.children.map(derEncode)) : (node.content ?? Buffer.alloc(0));
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([node.tag]), length, body]);
}

/** Indices of the TBSCertificate fields when the version field is present (v2/v3). */
export const TBS = { version: 0, serial: 1, signature: 2, issuer: 3, validity: 4, subject: 5, spki: 6 } as const;

export type Digest = 'sha256' | 'sha1' | 'md5';

const ATTR_OIDS: Record<string, string> = {
  CN: '2.5.4.3', O: '2.5.4.10', OU: '2.5.4.11', C: '2.5.4.6', L: '2.5.4.7', ST: '2.5.4.8', emailAddress: '1.2.840.113549.1.9.1',
};

/** `CN=a,O=b` → Name with RDNs in the order written (most significant first, as encoded). */
export function nameOf(text: string): Name {
  if (text === '') return new Name([]);
  return new Name(
    text.split(',').map((part) => {
      const [attr, ...rest] = part.trim().split('=');
      const value = rest.join('=');
      const av = attr === 'C' ? new AttributeValue({ printableString: value }) : attr === 'emailAddress' ? new AttributeValue({ ia5String: value }) : new AttributeValue({ utf8String: value });
      return new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ATTR_OIDS[attr] ?? attr, value: av })]);
    }),
  );
}

function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  return AsnConvert.parse(key.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
}

function keyIdOf(key: KeyObject): Buffer {
  return createHash('sha1').update(key.export({ type: 'spki', format: 'der' })).digest();
}

const NULL_PARAMS = new Uint8Array([0x05, 0x00]).buffer;

function signatureAlgorithmFor(key: KeyObject, digest: Digest): AlgorithmIdentifier {
  if (key.asymmetricKeyType === 'ec') {
    const oid = { sha256: '1.2.840.10045.4.3.2', sha1: '1.2.840.10045.4.1', md5: '1.2.840.10045.4.1' }[digest];
    return new AlgorithmIdentifier({ algorithm: oid });
  }
  const oid = { sha256: '1.2.840.113549.1.1.11', sha1: '1.2.840.113549.1.1.5', md5: '1.2.840.113549.1.1.4' }[digest];
  return new AlgorithmIdentifier({ algorithm: oid, parameters: NULL_PARAMS });
}

export function ext(oid: string, critical: boolean, value: object | ArrayBuffer): Extension {
  const der = value instanceof ArrayBuffer ? value : AsnConvert.serialize(value);
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(der) });
}

export const X = {
  basicConstraints: (ca: boolean, pathLen?: number, critical = true) =>
    ext(id_ce_basicConstraints, critical, new BasicConstraints(pathLen === undefined ? { cA: ca } : { cA: ca, pathLenConstraint: pathLen })),
  keyUsage: (mask: number, critical = true) => ext(id_ce_keyUsage, critical, new KeyUsage(mask)),
  eku: (oids: string[], critical = false) => ext(id_ce_extKeyUsage, critical, new ExtendedKeyUsage(oids)),
  san: (names: GeneralName[], critical = false) => ext(id_ce_subjectAltName, critical, new SubjectAlternativeName(names)),
  ski: (id: Buffer) => ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(new Uint8Array(id))),
  aki: (id: Buffer, critical = false) => ext(id_ce_authorityKeyIdentifier, critical, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(new Uint8Array(id)) })),
  /** AKI with authorityCertIssuer + authorityCertSerialNumber (and a keyIdentifier unless `id` is undefined). */
  akiWithIssuer: (id: Buffer | undefined, issuerName: string, serial: Buffer) =>
    ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({
      ...(id ? { keyIdentifier: new KeyIdentifier(new Uint8Array(id)) } : {}),
      authorityCertIssuer: [new GeneralName({ directoryName: nameOf(issuerName) })],
      authorityCertSerialNumber: new Uint8Array(serial).buffer,
    })),
  /** Any extension from raw DER of its value. */
  raw: (oid: string, critical: boolean, value: Buffer) => ext(oid, critical, new Uint8Array(value).buffer),
  nameConstraints: (permitted: GeneralName[], excluded: GeneralName[] = [], critical = true) =>
    ext(id_ce_nameConstraints, critical, new NameConstraints({
      ...(permitted.length ? { permittedSubtrees: new GeneralSubtrees(permitted.map((base) => new GeneralSubtree({ base }))) } : {}),
      ...(excluded.length ? { excludedSubtrees: new GeneralSubtrees(excluded.map((base) => new GeneralSubtree({ base }))) } : {}),
    })),
  /** An extension nobody knows (a private OID) with an empty SEQUENCE as value. */
  unknown: (critical: boolean) => ext('1.3.6.1.4.1.55555.1.1', critical, new Uint8Array([0x30, 0x00]).buffer),
};

export const GN = {
  dns: (value: string) => new GeneralName({ dNSName: value }),
  ip: (value: string) => new GeneralName({ iPAddress: value }),
  email: (value: string) => new GeneralName({ rfc822Name: value }),
  dir: (value: string) => new GeneralName({ directoryName: nameOf(value) }),
};

export interface IssueOptions {
  key?: KeyPair;
  /** Raw INTEGER content octets; default 16 random bytes, positive. */
  serial?: Buffer;
  notBefore?: Date;
  notAfter?: Date;
  version?: 1 | 2 | 3;
  digest?: Digest;
  /** Replaces the profile's extensions entirely. */
  extensions?: Extension[];
  /** Appended to the profile's extensions. */
  extra?: Extension[];
  /** OIDs removed from the profile's extensions. */
  omit?: string[];
  /** Sign with this key instead of the issuer's (a forged signature). */
  signWith?: KeyPair;
  /** Issuer name to write instead of the issuer's subject. */
  issuerName?: string;
  /** Edits the encoded TBSCertificate before it is signed (encodings the schema layer would never write). */
  mutateTbs?: (tbs: DerNode) => void;
  /** Replaces the outer signatureAlgorithm (after signing). */
  outerAlgorithm?: AlgorithmIdentifier;
}

function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  return serial;
}

export function issue(name: string, issuer: Fixture | undefined, profile: Extension[], opts: IssueOptions = {}): Fixture {
  const key = opts.key ?? ecKey();
  const signer = opts.signWith ?? issuer?.key ?? key;
  const digest = opts.digest ?? 'sha256';
  const signatureAlgorithm = signatureAlgorithmFor(signer.privateKey, digest);
  let extensions = opts.extensions ?? profile.filter((e) => !(opts.omit ?? []).includes(e.extnID));
  extensions = [...extensions, ...(opts.extra ?? [])];
  const version = opts.version ?? 3;
  const now = Date.now();
  const tbs = new TBSCertificate({
    version: version === 3 ? Version.v3 : version === 2 ? Version.v2 : Version.v1,
    serialNumber: new Uint8Array(opts.serial ?? randomSerial()).buffer,
    signature: signatureAlgorithm,
    issuer: nameOf(opts.issuerName ?? issuer?.name ?? name),
    validity: new Validity({ notBefore: new Date(opts.notBefore ?? now - DAY), notAfter: new Date(opts.notAfter ?? now + 365 * DAY) }),
    subject: nameOf(name),
    subjectPublicKeyInfo: spkiOf(key.publicKey),
    ...(extensions.length > 0 ? { extensions: new Extensions(extensions) } : {}),
  });
  let tbsDer: Buffer = Buffer.from(AsnConvert.serialize(tbs));
  if (opts.mutateTbs) {
    const node = derParse(tbsDer);
    opts.mutateTbs(node);
    tbsDer = derEncode(node);
  }
  const signature = sign(digest, tbsDer, signer.privateKey);
  const outer = Buffer.from(AsnConvert.serialize(opts.outerAlgorithm ?? signatureAlgorithm));
  const der = derEncode({
    tag: 0x30,
    children: [derParse(tbsDer), derParse(outer), { tag: 0x03, content: Buffer.concat([Buffer.from([0]), signature]) }],
  });
  let parsed: ParsedCert | undefined;
  let parseError: unknown;
  try {
    parsed = ParsedCert.fromDer(der);
  } catch (err) {
    parseError = err;
  }
  return {
    der, pem: toPem(der, 'CERTIFICATE'), key, name, ski: keyIdOf(key.publicKey),
    get cert(): ParsedCert {
      if (!parsed) throw parseError;
      return parsed;
    },
  };
}

export function toPem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function caProfile(key: KeyPair, issuer: Fixture | undefined, pathLen?: number): Extension[] {
  return [
    X.basicConstraints(true, pathLen),
    X.keyUsage(KU_KEY_CERT_SIGN | KU_CRL_SIGN),
    X.ski(keyIdOf(key.publicKey)),
    ...(issuer ? [X.aki(issuer.ski)] : []),
  ];
}

export function makeRoot(name: string, opts: IssueOptions & { pathLen?: number } = {}): Fixture {
  const key = opts.key ?? ecKey();
  return issue(name, undefined, caProfile(key, undefined, opts.pathLen), { ...opts, key });
}

export function makeIntermediate(name: string, issuer: Fixture, opts: IssueOptions & { pathLen?: number } = {}): Fixture {
  const key = opts.key ?? ecKey();
  return issue(name, issuer, caProfile(key, issuer, opts.pathLen), { ...opts, key });
}

export function makeLeaf(
  name: string,
  issuer: Fixture,
  opts: IssueOptions & { sans?: GeneralName[]; eku?: string[]; keyUsage?: number } = {},
): Fixture {
  const key = opts.key ?? ecKey();
  const profile = [
    X.basicConstraints(false),
    X.keyUsage(opts.keyUsage ?? KU_DIGITAL_SIGNATURE),
    X.eku(opts.eku ?? [EKU_SERVER, EKU_CLIENT]),
    X.san(opts.sans ?? [GN.dns('localhost'), GN.ip('127.0.0.1')]),
    X.ski(keyIdOf(key.publicKey)),
    X.aki(issuer.ski),
  ];
  return issue(name, issuer, profile, { ...opts, key });
}

export interface CrlOptions {
  revoked?: Buffer[];
  thisUpdate?: Date;
  nextUpdate?: Date | null;
  signWith?: KeyPair;
  digest?: Digest;
  extra?: Extension[];
  /** Replaces the default CRL extensions (AKI + non-critical CRL number). */
  extensions?: Extension[];
  /** crlEntryExtensions of every revoked entry. */
  entryExtensions?: Extension[];
}

export function crlNumber(n: number, critical = false): Extension {
  return ext('2.5.29.20', critical, new Uint8Array([0x02, 0x01, n]).buffer);
}

export function makeCrl(issuer: Fixture, opts: CrlOptions = {}): { der: Buffer; pem: string; crl: ParsedCrl } {
  const signer = opts.signWith ?? issuer.key;
  const signatureAlgorithm = signatureAlgorithmFor(signer.privateKey, opts.digest ?? 'sha256');
  const now = Date.now();
  const revoked = (opts.revoked ?? []).map(
    (serial) =>
      new RevokedCertificate({
        userCertificate: new Uint8Array(serial).buffer,
        revocationDate: new Time(new Date(now - DAY)),
        ...(opts.entryExtensions ? { crlEntryExtensions: opts.entryExtensions } : {}),
      }),
  );
  const nextUpdate = opts.nextUpdate === null ? undefined : (opts.nextUpdate ?? new Date(now + 7 * DAY));
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: signatureAlgorithm,
    issuer: nameOf(issuer.name),
    thisUpdate: new Time(opts.thisUpdate ?? new Date(now - DAY)),
    ...(nextUpdate ? { nextUpdate: new Time(nextUpdate) } : {}),
    ...(revoked.length ? { revokedCertificates: revoked } : {}),
    crlExtensions: [...(opts.extensions ?? [X.aki(issuer.ski), crlNumber(1)]), ...(opts.extra ?? [])],
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign(opts.digest ?? 'sha256', tbsDer, signer.privateKey);
  const der = Buffer.from(AsnConvert.serialize(new CertificateList({ tbsCertList: tbs, signatureAlgorithm, signature: new Uint8Array(signature).buffer })));
  return { der, pem: toPem(der, 'X509 CRL'), crl: ParsedCrl.fromDer(der) };
}

/** The raw serial content octets of a fixture (for CRL entries). */
export function serialOf(f: Fixture): Buffer {
  return Buffer.from(AsnConvert.parse(f.der, Certificate).tbsCertificate.serialNumber);
}

export interface OpensslVerifyInput {
  roots: Fixture[];
  untrusted?: Fixture[];
  leaf: Fixture;
  crls?: { pem: string }[];
  crlCheckAll?: boolean;
  at?: Date;
  purpose?: 'server' | 'client' | 'any';
  hostname?: string;
  ip?: string;
  /** e.g. ['-auth_level', '2'] so OpenSSL also refuses weak keys and digests. */
  extraArgs?: string[];
}

export interface OpensslVerifyResult {
  ok: boolean;
  /** OpenSSL X509_V_ERR_* numbers reported, in order. */
  errors: number[];
  output: string;
}

/** Runs `openssl verify -x509_strict` on the same certificates, written to `dir`. */
export async function opensslVerify(dir: string, input: OpensslVerifyInput): Promise<OpensslVerifyResult> {
  const { execFile } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const tag = randomBytes(6).toString('hex');
  const file = (suffix: string, text: string): string => {
    const path = join(dir, `${tag}-${suffix}.pem`);
    writeFileSync(path, text);
    return path;
  };
  const args = ['verify', '-x509_strict', '-CAfile', file('roots', input.roots.map((r) => r.pem).join(''))];
  if (input.untrusted?.length) args.push('-untrusted', file('untrusted', input.untrusted.map((c) => c.pem).join('')));
  if (input.crls?.length) {
    args.push('-CRLfile', file('crls', input.crls.map((c) => c.pem).join('')), input.crlCheckAll ? '-crl_check_all' : '-crl_check');
  }
  if (input.at) args.push('-attime', String(Math.floor(input.at.getTime() / 1000)));
  if (input.purpose && input.purpose !== 'any') args.push('-purpose', input.purpose === 'server' ? 'sslserver' : 'sslclient');
  if (input.hostname) args.push('-verify_hostname', input.hostname);
  if (input.ip) args.push('-verify_ip', input.ip);
  args.push(...(input.extraArgs ?? []), file('leaf', input.leaf.pem));
  return new Promise((resolve) => {
    execFile('openssl', args, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const errors = [...output.matchAll(/error (\d+) at \d+ depth/g)].map((m) => Number(m[1]));
      resolve({ ok: !err && /: OK\s*$/m.test(stdout), errors, output });
    });
  });
}

/** Minimal DER writers for extension values the schema classes do not cover (policies, AIA, raw oddities). */
export const D = {
  seq: (...items: Buffer[]): Buffer => derEncode({ tag: 0x30, children: items.map(derParse) }),
  oid: (dotted: string): Buffer => {
    const [a, b, ...rest] = dotted.split('.').map(Number);
    const bytes: number[] = [];
    for (const arc of [a * 40 + b, ...rest]) {
      const chunk = [arc & 0x7f];
      for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
      bytes.push(...chunk);
    }
    return derEncode({ tag: 0x06, content: Buffer.from(bytes) });
  },
  int: (n: number): Buffer => {
    let hex = n.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    let bytes = Buffer.from(hex, 'hex');
    if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return derEncode({ tag: 0x02, content: bytes });
  },
  /** Context-specific primitive [n] IMPLICIT with raw content. */
  implicit: (n: number, content: Buffer): Buffer => derEncode({ tag: 0x80 | n, content }),
  ia5: (tag: number, text: string): Buffer => derEncode({ tag, content: Buffer.from(text, 'latin1') }),
};

export const POLICY = { any: '2.5.29.32.0', a: '1.3.6.1.4.1.55555.7.1', b: '1.3.6.1.4.1.55555.7.2', c: '1.3.6.1.4.1.55555.7.3' };

/** certificatePolicies / policyMappings / policyConstraints / inhibitAnyPolicy extensions. */
export const P = {
  policies: (oids: string[], critical = false) => X.raw('2.5.29.32', critical, D.seq(...oids.map((o) => D.seq(D.oid(o))))),
  mappings: (pairs: [string, string][], critical = true) => X.raw('2.5.29.33', critical, D.seq(...pairs.map(([a, b]) => D.seq(D.oid(a), D.oid(b))))),
  constraints: (c: { requireExplicit?: number; inhibitMapping?: number }, critical = true) =>
    X.raw('2.5.29.36', critical, D.seq(
      ...(c.requireExplicit !== undefined ? [D.implicit(0, D.int(c.requireExplicit).subarray(2))] : []),
      ...(c.inhibitMapping !== undefined ? [D.implicit(1, D.int(c.inhibitMapping).subarray(2))] : []),
    )),
  inhibitAny: (n: number, critical = true) => X.raw('2.5.29.54', critical, D.int(n)),
};
