/** PEM text ↔ DER bytes in the page (no Buffer). */
import { fromBase64, toBase64 } from '../../protocol/bytes.js';

export function toPemText(der: Uint8Array, label: string): string {
  const b64 = toBase64(der);
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END ${label}-----\n`;
}

/** Every block with this label, in order. Throws on a block whose body is not base64. */
export function pemBlocks(text: string, label = 'CERTIFICATE'): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  for (const m of text.matchAll(re)) out.push(fromBase64(m[1].replace(/\s+/g, '')));
  return out;
}
