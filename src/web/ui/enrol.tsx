/**
 * Enrolment: make the non-extractable key and its CSR, then get the certificate by one of three
 * paths — (a) the operator signs the CSR (`securechat ca issue client NAME --csr FILE`) and the
 * user imports the PEM, (b) a one-time token from `securechat ca enrol-token NAME`, (c) a .p12.
 */
import { useState } from 'preact/hooks';
import { describe } from '../lib/chat.js';
import { attachCertificates, enrolWithToken, forgetIdentity, generateIdentity, type StoredIdentity } from '../lib/identity.js';
import { importP12 } from '../lib/p12.js';

interface Props {
  identity: StoredIdentity | undefined;
  onIdentity: (id: StoredIdentity | undefined) => void;
}

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/pkcs10' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function EnrolScreen({ identity, onIdentity }: Props) {
  const [username, setUsername] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [certText, setCertText] = useState('');
  const [token, setToken] = useState('');
  const [p12Pass, setP12Pass] = useState('');
  const [p12Name, setP12Name] = useState('');

  const run = async (work: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };

  if (!identity) {
    return (
      <main class="card" data-testid="enrol-start">
        <h1>SecureChat</h1>
        <p>This browser makes its own key. The key can sign the handshake but can never be read or exported, not even by this page.</p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => onIdentity(await generateIdentity(username.trim())));
          }}
        >
          <label>
            Username
            <input data-testid="enrol-username" value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} autoComplete="username" required />
          </label>
          <button data-testid="enrol-generate" disabled={busy} type="submit">Create my key</button>
        </form>
        <details>
          <summary>I have a .p12 from the operator</summary>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const input = (e.target as HTMLFormElement).querySelector('input[type=file]') as HTMLInputElement;
              void run(async () => {
                const f = input.files?.[0];
                if (!f) throw new Error('Choose a .p12 file.');
                onIdentity(await importP12(new Uint8Array(await f.arrayBuffer()), p12Pass, p12Name.trim() || undefined));
                input.value = '';
              });
            }}
          >
            <label>
              .p12 file <input data-testid="p12-file" type="file" accept=".p12,.pfx,application/x-pkcs12" />
            </label>
            <label>
              Passphrase <input data-testid="p12-pass" type="password" value={p12Pass} onInput={(e) => setP12Pass((e.target as HTMLInputElement).value)} />
            </label>
            <label>
              Username (if not the certificate's name) <input value={p12Name} onInput={(e) => setP12Name((e.target as HTMLInputElement).value)} />
            </label>
            <button data-testid="p12-import" disabled={busy} type="submit">Import</button>
          </form>
        </details>
        {error && <p class="error" data-testid="enrol-error">{error}</p>}
      </main>
    );
  }

  return (
    <main class="card" data-testid="enrol-certificate">
      <h1>Certificate for {identity.username}</h1>
      <p>Your key is ready. Now the CA must sign it: pick one way.</p>
      <section>
        <h2>With an enrolment token</h2>
        <p>
          Ask the operator for a one-time token (<code>securechat ca enrol-token {identity.username}</code>) and paste it here.
        </p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => onIdentity(await enrolWithToken(identity, token)));
          }}
        >
          <input data-testid="enrol-token" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} placeholder="token" autoComplete="off" />
          <button data-testid="enrol-token-submit" disabled={busy || token.trim() === ''} type="submit">Enrol</button>
        </form>
      </section>
      <section>
        <h2>Through the operator</h2>
        <p>
          Send this request to the operator, who runs <code>securechat ca issue client {identity.username} --csr {identity.username}.csr</code> and sends
          back the certificate (with <code>root_ca.pem</code> if this server does not publish it).
        </p>
        <textarea data-testid="csr" readOnly rows={8} value={identity.csrPem} />
        <button type="button" data-testid="csr-download" onClick={() => download(`${identity.username}.csr`, identity.csrPem ?? '')}>
          Download {identity.username}.csr
        </button>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => onIdentity(await attachCertificates(identity, [certText], true)));
          }}
        >
          <label>
            Certificate PEM (paste, or choose the file)
            <textarea data-testid="cert-pem" rows={6} value={certText} onInput={(e) => setCertText((e.target as HTMLTextAreaElement).value)} />
          </label>
          <input
            type="file"
            accept=".pem,.crt,.cer"
            multiple
            onChange={(e) => {
              const input = e.target as HTMLInputElement;
              void run(async () => {
                const texts = await Promise.all(Array.from(input.files ?? []).map((f) => f.text()));
                setCertText([certText, ...texts].filter(Boolean).join('\n'));
              });
            }}
          />
          <button data-testid="cert-import" disabled={busy || certText.trim() === ''} type="submit">Import certificate</button>
        </form>
      </section>
      <button
        type="button"
        class="link"
        onClick={() =>
          void run(async () => {
            await forgetIdentity();
            onIdentity(undefined);
          })
        }
      >
        Start over (deletes this key)
      </button>
      {error && <p class="error" data-testid="enrol-error">{error}</p>}
    </main>
  );
}
