/**
 * Transcript hashes (docs/PROTOCOL.md, "Transcript"). Hellos and auth messages enter as the exact
 * bytes sent; certificates and signatures inside an auth message enter length-prefixed, so the
 * signature covers the chain and the finished MAC covers chain and signature.
 */
import { sha256 } from './keys.js';

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** u32 count ‖ (u32 length ‖ DER)… */
export function encodeChain(chain: Buffer[]): Buffer {
  return Buffer.concat([u32(chain.length), ...chain.flatMap((der) => [u32(der.length), der])]);
}

/** Hash signed by the sender of an auth message: H(prefix… ‖ chain). */
export function signatureHash(prefix: Buffer[], chain: Buffer[]): Buffer {
  return sha256(...prefix, encodeChain(chain));
}

/** Hash MACed by `finished`: H(prefix… ‖ chain ‖ u32 len ‖ signature). */
export function finishedHash(prefix: Buffer[], chain: Buffer[], signature: Buffer): Buffer {
  return sha256(...prefix, encodeChain(chain), u32(signature.length), signature);
}
