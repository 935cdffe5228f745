/**
 * A minimal strict DER reader. The validator needs the raw bytes of a few structures (GeneralNames,
 * name constraints, key identifiers, the TBS part of a CRL) that the generic ASN.1 schema layer
 * either converts lossily (IP address masks) or re-encodes, so they are walked here directly.
 * Every function throws DerError on anything it cannot read; callers turn that into `malformed`.
 */

export class DerError extends Error {}

export interface Tlv {
  /** The full identifier octet (class + constructed bit + tag number; only low tag numbers are supported). */
  tag: number;
  /** Offset of the first content octet in the buffer. */
  start: number;
  /** Offset just past the last content octet. */
  end: number;
  /** Offset of the identifier octet. */
  headerStart: number;
}

export const TAG_BOOLEAN = 0x01;
export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_SEQUENCE = 0x30;

export function readTlv(buf: Buffer, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated TLV header');
  const tag = buf[offset];
  // High tag numbers never appear in the structures we read; refusing them keeps the reader tiny.
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag number');
  let pos = offset + 1;
  const first = buf[pos++];
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new DerError('unsupported length encoding');
    if (pos + count > limit) throw new DerError('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++];
    // DER requires the shortest length form.
    if (length < 0x80 || (count > 1 && buf[pos - count] === 0)) throw new DerError('non-minimal length');
  }
  const end = pos + length;
  if (end > limit) throw new DerError('content overruns its container');
  return { tag, start: pos, end, headerStart: offset };
}

/** The children of a constructed TLV, which must exactly fill it. */
export function readChildren(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.start;
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** Reads exactly one TLV spanning the whole buffer (no trailing bytes). */
export function readWhole(buf: Buffer, expectedTag?: number): Tlv {
  const tlv = readTlv(buf, 0);
  if (tlv.end !== buf.length) throw new DerError('trailing bytes after structure');
  if (expectedTag !== undefined && tlv.tag !== expectedTag) throw new DerError(`expected tag 0x${expectedTag.toString(16)}`);
  return tlv;
}

export function content(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.start, tlv.end);
}

export function whole(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.headerStart, tlv.end);
}

export const TAG_NULL = 0x05;
export const TAG_OID = 0x06;
export const TAG_UTC_TIME = 0x17;
export const TAG_GENERALIZED_TIME = 0x18;

/** Dotted form of an OBJECT IDENTIFIER's content octets (minimal base-128 arcs required). */
export function oidText(bytes: Buffer): string {
  if (bytes.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  let started = false;
  for (const byte of bytes) {
    if (!started && byte === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    started = true;
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
      started = false;
    }
  }
  if (started) throw new DerError('truncated OBJECT IDENTIFIER');
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

export function readOid(buf: Buffer, tlv: Tlv): string {
  if (tlv.tag !== TAG_OID) throw new DerError('expected OBJECT IDENTIFIER');
  return oidText(content(buf, tlv));
}

/** A DER INTEGER's content is minimal: no redundant leading 0x00 or 0xff octet. */
export function isMinimalInteger(bytes: Buffer): boolean {
  if (bytes.length === 0) return false;
  if (bytes.length === 1) return true;
  return !((bytes[0] === 0x00 && (bytes[1] & 0x80) === 0) || (bytes[0] === 0xff && (bytes[1] & 0x80) !== 0));
}
