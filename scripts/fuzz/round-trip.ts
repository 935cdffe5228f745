/** The well-behaved client's yardstick (attack tests and `npm run fuzz -- --mode hostile`): one DM round trip. */
import type { SecureChatClient } from '../../src/client/client.js';

/** One DM from `from` to `to` (named `toName`), sent → pushed to `to`, in ms; rejects after `timeoutMs`. */
export async function dmRoundTrip(from: SecureChatClient, to: SecureChatClient, toName: string, tag: string, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  let on: (m: { type?: string; text?: string }) => void = () => undefined;
  const got = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no DM push within ${timeoutMs} ms`)), timeoutMs);
    // Pushes arrive as 'push' (never sharing a name with the client's lifecycle events).
    on = (m) => {
      if (m.type === 'message' && m.text === tag) {
        clearTimeout(timer);
        resolve();
      }
    };
    to.on('push', on);
  });
  try {
    await from.request('dm', { to: toName, text: tag });
    await got;
  } finally {
    to.off('push', on);
  }
  return performance.now() - started;
}
