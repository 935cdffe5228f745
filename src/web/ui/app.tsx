/** The page: enrolment until a certificate is attached, then the login and chat screens. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { webCrypto } from '../../protocol/crypto/webcrypto.js';
import type { SigningKey } from '../../protocol/crypto/provider.js';
import type { BrowserSocket } from '../../protocol/frame-link.js';
import { ChatModel, describe } from '../lib/chat.js';
import { forgetIdentity, loadIdentity, trustAnchors, type StoredIdentity } from '../lib/identity.js';
import { EnrolScreen } from './enrol.js';
import { ChatScreen, LoginScreen, useModel } from './chat.js';

/** `/ws` on the origin the page came from (wss: when the page is https:). */
function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

function Connected({ identity, onForget }: { identity: StoredIdentity; onForget: () => void }) {
  const [model, setModel] = useState<ChatModel | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let m: ChatModel | undefined;
    // The page's host, brackets of an IPv6 literal removed.
    const pageHost = location.hostname.replace(/^\[|\]$/g, '');
    void trustAnchors(identity, pageHost)
      .then(({ roots, serverName }) => {
        m = new ChatModel({
          makeSocket: () => new WebSocket(wsUrl()) as unknown as BrowserSocket,
          provider: webCrypto(),
          chain: identity.chain ?? [],
          privateKey: identity.privateKey as unknown as SigningKey,
          roots,
          serverName,
        });
        (globalThis as { securechat?: ChatModel }).securechat = m;
        setModel(m);
        void m.connect();
      })
      .catch((err) => setError(describe(err)));
    return () => m?.logout();
  }, [identity]);
  if (error) return <main class="card"><p class="error">{error}</p></main>;
  if (!model) return <main class="card"><p>Loading…</p></main>;
  return <Screens model={model} identity={identity} onForget={onForget} />;
}

function Screens({ model, identity, onForget }: { model: ChatModel; identity: StoredIdentity; onForget: () => void }) {
  const state = useModel(model);
  if (state.phase === 'ready' || (state.phase === 'reconnecting' && state.me)) return <ChatScreen model={model} />;
  return <LoginScreen model={model} username={identity.username} onForget={onForget} />;
}

export function App() {
  const [identity, setIdentity] = useState<StoredIdentity | undefined | null>(null);
  useEffect(() => {
    void loadIdentity().then((id) => setIdentity(id));
  }, []);
  const forget = useMemo(
    () => () => {
      if (!confirm('Delete this browser’s key? You will need a new certificate.')) return;
      void forgetIdentity().then(() => setIdentity(undefined));
    },
    [],
  );
  if (identity === null) return <main class="card"><p>Loading…</p></main>;
  if (!identity || !identity.chain) return <EnrolScreen identity={identity} onIdentity={setIdentity} />;
  return <Connected identity={identity} onForget={forget} />;
}
