/**
 * GeneralNames (RFC 5280 §4.2.1.6) decoded straight from DER so IP addresses keep their exact
 * bytes (a name-constraint iPAddress is address ‖ mask, which the schema layer prints lossily).
 */
import { DerError, TAG_SEQUENCE, content, readChildren, readTlv, readWhole, type Tlv } from './der.js';
import { dnFromDer, type DistinguishedName } from './dn.js';

export type GeneralNameValue =
  | { type: 'dns'; value: string }
  | { type: 'email'; value: string }
  | { type: 'uri'; value: string }
  | { type: 'ip'; bytes: Buffer }
  | { type: 'dir'; dn: DistinguishedName }
  | { type: 'other'; tag: number };

function ia5(buf: Buffer): string {
  for (const byte of buf) if (byte > 0x7f) throw new DerError('non-ASCII byte in IA5String');
  return buf.toString('latin1');
}

export function decodeGeneralName(buf: Buffer, tlv: Tlv): GeneralNameValue {
  switch (tlv.tag) {
    case 0x81:
      return { type: 'email', value: ia5(content(buf, tlv)) };
    case 0x82:
      return { type: 'dns', value: ia5(content(buf, tlv)) };
    case 0x86:
      return { type: 'uri', value: ia5(content(buf, tlv)) };
    case 0x87:
      return { type: 'ip', bytes: Buffer.from(content(buf, tlv)) };
    case 0xa4: {
      // directoryName is EXPLICIT: the Name SEQUENCE sits inside the [4] wrapper.
      const inner = readTlv(buf, tlv.start, tlv.end);
      if (inner.end !== tlv.end || inner.tag !== TAG_SEQUENCE) throw new DerError('bad directoryName');
      return { type: 'dir', dn: dnFromDer(buf.subarray(inner.headerStart, inner.end)) };
    }
    default:
      return { type: 'other', tag: tlv.tag };
  }
}

/** Decodes `GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName`; an empty sequence is malformed. */
export function decodeGeneralNames(der: Buffer): GeneralNameValue[] {
  const outer = readWhole(der, TAG_SEQUENCE);
  const names = readChildren(der, outer).map((tlv) => decodeGeneralName(der, tlv));
  if (names.length === 0) throw new DerError('empty GeneralNames');
  return names;
}
