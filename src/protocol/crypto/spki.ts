/**
 * Just enough DER for the crypto providers: the SubjectPublicKeyInfo of a certificate and the key
 * algorithm it names, and the ECDSA signature re-encoding between the protocol's DER form and
 * WebCrypto's fixed-width r ‖ s. Pure Uint8Array code (it runs in the browser too).
 */
import { toHex } from '../bytes.js';

export type SignatureAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'rsa-pss';

interface Tlv {
  tag: number;
  start: number;
  end: number;
  headerStart: number;
}

function readTlv(buf: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new Error('truncated DER');
  const tag = buf[offset];
  let length = buf[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3 || start + n > limit) throw new Error('bad DER length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[start + i];
    start += n;
  }
  if (start + length > limit) throw new Error('truncated DER');
  return { tag, start, end: start + length, headerStart: offset };
}

function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(buf, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** The DER SubjectPublicKeyInfo of an X.509 certificate. */
export function certificateSpki(certDer: Uint8Array): Uint8Array {
  const cert = readTlv(certDer, 0, certDer.length);
  const tbs = children(certDer, cert)[0];
  if (!tbs || tbs.tag !== 0x30) throw new Error('bad certificate');
  const fields = children(certDer, tbs);
  // [0] version is optional; after it: serial, signature, issuer, validity, subject, spki.
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const spki = fields[base + 5];
  if (!spki || spki.tag !== 0x30) throw new Error('bad certificate');
  return certDer.slice(spki.headerStart, spki.end);
}

const ALGORITHMS: Record<string, SignatureAlgorithm | undefined> = {
  '2b6570': 'ed25519',
  '2a864886f70d010101': 'rsa-pss',
  '2a864886f70d01010a': 'rsa-pss',
};
const CURVES: Record<string, SignatureAlgorithm | undefined> = {
  '2a8648ce3d030107': 'ecdsa-p256',
  '2b81040022': 'ecdsa-p384',
  '2b81040023': 'ecdsa-p521',
};

/** The protocol signature algorithm that goes with a SubjectPublicKeyInfo (see signature.ts). */
export function spkiAlgorithm(spki: Uint8Array): SignatureAlgorithm {
  const top = readTlv(spki, 0, spki.length);
  const alg = children(spki, top)[0];
  const [oid, params] = children(spki, alg);
  const oidHex = toHex(spki.subarray(oid.start, oid.end));
  if (oidHex === '2a8648ce3d0201' && params?.tag === 0x06) {
    const curve = CURVES[toHex(spki.subarray(params.start, params.end))];
    if (curve) return curve;
  }
  const found = ALGORITHMS[oidHex];
  if (!found) throw new Error('unsupported key algorithm');
  return found;
}

export const ECDSA_COMPONENT_SIZE: Record<'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521', number> = {
  'ecdsa-p256': 32,
  'ecdsa-p384': 48,
  'ecdsa-p521': 66,
};

function derInteger(component: Uint8Array): Uint8Array {
  let i = 0;
  while (i < component.length - 1 && component[i] === 0) i++;
  const trimmed = component.subarray(i);
  const pad = trimmed[0] & 0x80 ? 1 : 0;
  const out = new Uint8Array(2 + pad + trimmed.length);
  out[0] = 0x02;
  out[1] = pad + trimmed.length;
  out.set(trimmed, 2 + pad);
  return out;
}

/** WebCrypto's r ‖ s → DER SEQUENCE { INTEGER r, INTEGER s }. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const r = derInteger(raw.subarray(0, half));
  const s = derInteger(raw.subarray(half));
  const bodyLength = r.length + s.length;
  const header = bodyLength < 0x80 ? [0x30, bodyLength] : [0x30, 0x81, bodyLength];
  const out = new Uint8Array(header.length + bodyLength);
  out.set(header, 0);
  out.set(r, header.length);
  out.set(s, header.length + r.length);
  return out;
}

/** DER ECDSA signature → fixed-width r ‖ s; throws on anything malformed or oversized. */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array {
  const seq = readTlv(der, 0, der.length);
  if (seq.tag !== 0x30 || seq.end !== der.length) throw new Error('bad signature');
  const ints = children(der, seq);
  if (ints.length !== 2) throw new Error('bad signature');
  const out = new Uint8Array(2 * size);
  ints.forEach((t, k) => {
    if (t.tag !== 0x02) throw new Error('bad signature');
    let v = der.subarray(t.start, t.end);
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new Error('bad signature');
    out.set(v, k * size + size - v.length);
  });
  return out;
}
