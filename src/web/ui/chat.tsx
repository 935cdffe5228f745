/** The signed-in screens: login, then conversations (sidebar), messages, composer, group panel. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { describe, groupKey, type ChatMessage, type ChatModel, type ChatState, type Conversation } from '../lib/chat.js';
import { MAX_FILE_BYTES, type Transfer } from '../lib/files.js';

export function useModel(model: ChatModel): ChatState {
  const [state, setState] = useState(model.state);
  useEffect(() => model.subscribe(() => setState(model.state)), [model]);
  return state;
}

export function LoginScreen({ model, username, onForget }: { model: ChatModel; username: string; onForget: () => void }) {
  const state = useModel(model);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = (register: boolean): void => {
    setBusy(true);
    void model
      .login(password, register)
      .catch(() => undefined)
      .finally(() => setBusy(false));
  };
  return (
    <main class="card" data-testid="login">
      <h1>SecureChat</h1>
      <p>
        Certificate: <strong>{username}</strong>
        {state.server && (
          <>
            <br />
            Server: <span title={`SHA-256 ${state.server.fingerprint}`}>{state.server.subject}</span>, its certificate chain verified
          </>
        )}
      </p>
      {state.phase === 'connecting' && <p>Connecting…</p>}
      {state.phase === 'offline' && (
        <button type="button" onClick={() => void model.connect()}>
          Connect
        </button>
      )}
      {state.phase === 'login' && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            submit(false);
          }}
        >
          <input type="text" autoComplete="username" value={username} readOnly hidden />
          <label>
            Password
            <input data-testid="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
          </label>
          <div class="row">
            <button data-testid="login-submit" type="submit" disabled={busy}>Log in</button>
            <button data-testid="register-submit" type="button" class="secondary" disabled={busy} onClick={() => submit(true)}>
              Register
            </button>
          </div>
        </form>
      )}
      {state.error && <p class="error" data-testid="login-error">{state.error}</p>}
      <button type="button" class="link" onClick={onForget}>
        Use another identity…
      </button>
    </main>
  );
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function formatSize(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function Sidebar({ model, state, onPick }: { model: ChatModel; state: ChatState; onPick: () => void }) {
  const [newGroup, setNewGroup] = useState('');
  const [dmTo, setDmTo] = useState('');
  const conversations = [...state.conversations.values()].sort((a, b) => (b.messages.at(-1)?.created_at ?? 0) - (a.messages.at(-1)?.created_at ?? 0));
  const online = [...state.online.keys()].filter((u) => u !== state.me).sort();
  const open = (c: Pick<Conversation, 'kind' | 'name'>): void => {
    void model.open(c.kind, c.name).catch((err) => alertNotice(model, err));
    onPick();
  };
  return (
    <nav class="sidebar" data-testid="sidebar">
      <section>
        <h2>Online</h2>
        <ul data-testid="online">
          {online.length === 0 && <li class="muted">nobody else</li>}
          {online.map((u) => (
            <li key={u}>
              <button type="button" class="conv" data-testid={`online-${u}`} onClick={() => open({ kind: 'dm', name: u })}>
                <span class="dot on" /> {u}
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h2>Conversations</h2>
        <ul>
          {conversations.map((c) => (
            <li key={c.key}>
              <button type="button" class={`conv ${state.active === c.key ? 'active' : ''}`} data-testid={`conv-${c.key}`} onClick={() => open(c)}>
                {c.kind === 'group' ? '#' : <span class={`dot ${state.online.has(c.name) ? 'on' : ''}`} />} {c.name}
                {c.unread > 0 && <span class="badge">{c.unread}</span>}
              </button>
            </li>
          ))}
        </ul>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            if (dmTo.trim()) open({ kind: 'dm', name: dmTo.trim() });
            setDmTo('');
          }}
        >
          <input data-testid="dm-to" placeholder="message a user…" value={dmTo} onInput={(e) => setDmTo((e.target as HTMLInputElement).value)} />
        </form>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const name = newGroup.trim();
            if (name) void model.groupAction('group_create', { name }).catch((err) => alertNotice(model, err));
            setNewGroup('');
            onPick();
          }}
        >
          <input data-testid="group-new" placeholder="new group…" value={newGroup} onInput={(e) => setNewGroup((e.target as HTMLInputElement).value)} />
        </form>
      </section>
    </nav>
  );
}

function alertNotice(model: ChatModel, err: unknown): void {
  model.notify(describe(err));
}

function MessageView({ m, model, mine }: { m: ChatMessage; model: ChatModel; mine: boolean }) {
  const [error, setError] = useState<string | undefined>();
  const save = (): void => {
    void model
      .download(m)
      .then((blob) => {
        const url = URL.createObjectURL(blob);
        const a = document.createElement('a');
        a.href = url;
        a.download = m.file?.name ?? 'file';
        a.click();
        setTimeout(() => URL.revokeObjectURL(url), 30_000);
      })
      .catch((err) => setError(describe(err)));
  };
  return (
    <li class={`msg ${mine ? 'mine' : ''}`} data-testid="message" data-id={m.id}>
      <div class="meta">
        <strong>{m.from}</strong> <time>{formatTime(m.created_at)}</time>
      </div>
      {m.kind === 'file' && m.file ? (
        <div class="file">
          <span class="file-tag">file</span> {m.file.name} ({formatSize(m.file.size)}){' '}
          <button type="button" class="secondary" data-testid="file-save" onClick={save}>
            Save
          </button>
          <div class="muted small">sha256 {m.file.sha256.slice(0, 16)}…</div>
          {error && <div class="error">{error}</div>}
        </div>
      ) : (
        <div class="text">{m.text}</div>
      )}
    </li>
  );
}

function TransferList({ transfers }: { transfers: Transfer[] }) {
  const live = transfers.slice(-3);
  if (live.length === 0) return null;
  return (
    <ul class="transfers" data-testid="transfers">
      {live.map((t) => (
        <li key={t.id} data-state={t.state}>
          {t.direction === 'up' ? '↑' : '↓'} {t.name} <progress max={t.size || 1} value={t.done} /> {t.state === 'ok' ? 'done, sha256 ok' : t.state === 'failed' ? t.error : `${Math.floor((100 * t.done) / (t.size || 1))} %`}
        </li>
      ))}
    </ul>
  );
}

function GroupPanel({ model, state, c }: { model: ChatModel; state: ChatState; c: Conversation }) {
  const [user, setUser] = useState('');
  const mine = state.members.find((m) => m.username === state.me)?.role;
  const act = (action: Parameters<ChatModel['groupAction']>[0], params: Record<string, string>): void => {
    void model.groupAction(action, params).catch((err) => alertNotice(model, err));
  };
  return (
    <aside class="group-panel" data-testid="group-panel">
      <h3>Members of #{c.name}</h3>
      <ul>
        {state.members.map((m) => (
          <li key={m.uuid} data-testid={`member-${m.username}`}>
            <span class={`dot ${m.online ? 'on' : ''}`} /> {m.username} <span class="muted">{m.role}</span>
            {mine === 'owner' && m.username !== state.me && (
              <>
                {m.role === 'member' ? (
                  <button type="button" class="link" onClick={() => act('group_promote', { group: c.name, user: m.username })}>
                    make admin
                  </button>
                ) : (
                  m.role === 'admin' && (
                    <button type="button" class="link" onClick={() => act('group_demote', { group: c.name, user: m.username })}>
                      make member
                    </button>
                  )
                )}
              </>
            )}
            {(mine === 'owner' || (mine === 'admin' && m.role === 'member')) && m.username !== state.me && (
              <button type="button" class="link" data-testid={`remove-${m.username}`} onClick={() => act('group_remove', { group: c.name, user: m.username })}>
                remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {(mine === 'owner' || mine === 'admin') && (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            if (user.trim()) act('group_add', { group: c.name, user: user.trim() });
            setUser('');
          }}
        >
          <input data-testid="group-add" placeholder="add a user…" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
        </form>
      )}
      <button type="button" class="secondary" data-testid="group-leave" onClick={() => act('group_leave', { group: c.name })}>
        Leave #{c.name}
      </button>
    </aside>
  );
}

function ConversationPane({ model, state, c }: { model: ChatModel; state: ChatState; c: Conversation }) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const list = useRef<HTMLUListElement>(null);
  const atBottom = useRef(true);
  const loadingOlder = useRef(false);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const el = list.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [c.messages.length, c.key]);

  const onScroll = (): void => {
    const el = list.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 40 && c.more && !loadingOlder.current) {
      loadingOlder.current = true;
      const before = el.scrollHeight;
      void model
        .loadOlder(c.key)
        .then(() => requestAnimationFrame(() => (el.scrollTop += el.scrollHeight - before)))
        .finally(() => (loadingOlder.current = false));
    }
  };

  const send = (): void => {
    if (!text.trim()) return;
    setSending(true);
    void model
      .sendText(text)
      .then(() => setText(''))
      .catch((err) => alertNotice(model, err))
      .finally(() => setSending(false));
  };

  return (
    <section class="conversation" data-testid="conversation" data-key={c.key}>
      <header>
        <h2>
          {c.kind === 'group' ? `#${c.name}` : c.name}
          {c.kind === 'dm' && <span class={`dot ${state.online.has(c.name) ? 'on' : ''}`} title={state.online.has(c.name) ? 'online' : 'offline'} />}
        </h2>
      </header>
      <ul class="messages" ref={list} onScroll={onScroll} data-testid="messages">
        {c.more && (
          <li class="muted center">
            <button type="button" class="link" data-testid="load-older" onClick={() => void model.loadOlder(c.key)}>
              load older messages
            </button>
          </li>
        )}
        {c.messages.map((m) => (
          <MessageView key={m.id} m={m} model={model} mine={m.from === state.me} />
        ))}
      </ul>
      <TransferList transfers={state.transfers} />
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <button type="button" class="secondary" title={`Send a file (up to ${MAX_FILE_BYTES / 1024 / 1024} MB)`} onClick={() => fileInput.current?.click()}>
          Attach
        </button>
        <input
          ref={fileInput}
          data-testid="file-input"
          type="file"
          hidden
          onChange={(e) => {
            const input = e.target as HTMLInputElement;
            const f = input.files?.[0];
            if (f) void model.sendFile(f).catch((err) => alertNotice(model, err));
            input.value = '';
          }}
        />
        <input data-testid="composer" placeholder="Write a message" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <button data-testid="send" type="submit" disabled={sending}>
          Send
        </button>
      </form>
    </section>
  );
}

export function ChatScreen({ model }: { model: ChatModel }) {
  const state = useModel(model);
  const [menu, setMenu] = useState(false);
  const c = state.active ? state.conversations.get(state.active) : undefined;
  const status = state.phase === 'ready' ? 'connected' : state.phase === 'reconnecting' ? 'reconnecting…' : state.phase;
  return (
    <div class={`chat ${menu ? 'menu-open' : ''}`} data-testid="chat">
      <header class="topbar">
        <button type="button" class="menu secondary" aria-label="Conversations" onClick={() => setMenu(!menu)}>
          ☰
        </button>
        <strong>SecureChat</strong>
        <span class={`status ${state.phase}`} data-testid="status" data-phase={state.phase}>
          {state.me} · {status}
          {state.outbox > 0 && ` · ${state.outbox} waiting`}
        </span>
        <button type="button" class="link" data-testid="logout" onClick={() => model.logout()}>
          Log out
        </button>
      </header>
      {state.notice && (
        <p class="notice" data-testid="notice">
          {state.notice}
        </p>
      )}
      {state.phase === 'reconnecting' && state.error && <p class="notice">{state.error}</p>}
      <Sidebar model={model} state={state} onPick={() => setMenu(false)} />
      {c ? (
        <>
          <ConversationPane model={model} state={state} c={c} />
          {c.kind === 'group' && state.active === groupKey(c.name) && <GroupPanel model={model} state={state} c={c} />}
        </>
      ) : (
        <section class="conversation empty">
          <p class="muted">Pick someone who is online, a conversation, or create a group.</p>
        </section>
      )}
    </div>
  );
}
