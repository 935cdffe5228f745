/**
 * Issue 12, conversation mode, through the real `securechat chat` REPL in a terminal (tmux):
 * `/query bob` and `/q #team` set where plain lines go and show in the prompt; your own messages
 * appear like incoming ones and their ✓ turns into ✓✓ in place when delivered; a message from
 * another conversation is marked and counted; `/list` shows the unread counts; `/history` has
 * date lines; `/msg` and `/g` still work; script mode knows `/query` too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, type ChatMessage } from '../../src/client/chat-client.js';
import { startChatServer, TEST_PASSWORD, userIdentity, type TestChatServer } from '../helpers/chat-server.js';
import { runCli } from '../helpers/cli.js';
import { TmuxTerminal, tmuxSkip } from '../helpers/tmux.js';

const env = { SECURECHAT_PASSWORD: TEST_PASSWORD, NO_COLOR: '1' };
const noTmux = tmuxSkip();
let srv: TestChatServer;
const received: Record<string, ChatMessage[]> = { bob: [], carol: [] };
const clients: ChatClient[] = [];
let carol: ChatClient;

function conn(user: string): string[] {
  return ['chat', '--port', String(srv.port), '--server-name', 'localhost', '--certs', srv.pki.dir, '--user', user];
}

async function waitUntil(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** A library client that registers, then records (and so acknowledges) what it receives. */
async function peer(user: 'bob' | 'carol'): Promise<ChatClient> {
  const c = await ChatClient.connect({ host: '127.0.0.1', port: srv.port, serverName: 'localhost', identity: userIdentity(srv.pki, user), trust: srv.pki.trust });
  await c.register(TEST_PASSWORD);
  c.consume((ev) => {
    if (ev.type === 'message') received[user].push(ev.message);
  });
  clients.push(c);
  return c;
}

before(async () => {
  srv = await startChatServer();
  (await srv.login('alice')).close();
  await peer('bob');
  carol = await peer('carol');
});

after(async () => {
  for (const c of clients) c.close();
  await srv.close();
});

test('REPL conversation mode: /query, plain lines, ✓ → ✓✓ in place, marked messages from elsewhere, /list, /history dates, /msg and /g', { skip: noTmux }, async () => {
  const term = new TmuxTerminal();
  try {
    term.start(conn('alice'), env);
    await term.waitForText('Connected as alice');

    term.type('/query bob');
    await term.waitForText('alice → bob>');
    term.type('hello bob, plain line');
    await waitUntil(() => received.bob.some((m) => m.text === 'hello bob, plain line'), 'bob to get the plain line');
    let s = await term.waitForText(/\[\d\d:\d\d\] alice → bob: hello bob, plain line ✓✓/);
    assert.equal(count(s, 'hello bob, plain line'), 1, `the line typed is shown once, as the message:\n${s}`);
    assert.ok(!/delivered to bob/.test(s), `the ✓✓ was written in place, not as another line:\n${s}`);

    // A message from another conversation: shown, marked, counted.
    await carol.dm('alice', 'psst from carol');
    s = await term.waitForText(/» \[\d\d:\d\d\] carol → alice: psst from carol {2}\(in carol: \/q carol\)/);
    term.type('/list');
    s = await term.waitForText(/Conversations:[\s\S]*carol\s+1 unread/);
    assert.match(s, /▶ bob/, 'the current conversation is marked');

    // /msg and /g still work in conversation mode, and do not change it.
    term.type('/msg carol direct to carol');
    await waitUntil(() => received.carol.some((m) => m.text === 'direct to carol'), 'carol to get the /msg');
    term.type('/group create team');
    await term.waitForText('created #team');
    term.type('/group add team bob');
    await term.waitForText(/added bob to #team/);
    term.type('/g team via slash g');
    await waitUntil(() => received.bob.some((m) => m.text === 'via slash g' && m.group === 'team'), 'bob to get the /g');
    s = await term.waitForText(/alice → #team: via slash g ✓/);
    assert.match(s.split('\n').at(-1) ?? '', /^alice → bob>/, `still talking to bob:\n${s}`);

    // /q #team: plain lines go to the group.
    term.type('/q #team');
    await term.waitForText('alice → #team>');
    term.type('to the whole team');
    await waitUntil(() => received.bob.some((m) => m.text === 'to the whole team' && m.group === 'team'), 'bob to get the group line');
    await term.waitForText(/alice → #team: to the whole team ✓✓/);

    // A line starting with "//" sends a "/…" text; "#…" is text in conversation mode.
    term.type('//shrug');
    term.type('#1 priority');
    await waitUntil(() => received.bob.some((m) => m.text === '/shrug') && received.bob.some((m) => m.text === '#1 priority'), 'the // and # lines');

    // /history of the current conversation (no argument) starts with the day.
    term.type('/history');
    s = await term.waitForText(/— \w+day \d{1,2} \w+ \d{4} —\n\[\d\d:\d\d\] alice → #team: via slash g/);
    // The unread count of carol is cleared by looking at it.
    term.type('/history carol');
    await term.waitForText(/alice → carol: direct to carol/);
    term.type('/unread');
    s = await term.waitFor((x) => x.split('Conversations:').length >= 3, 'a second /list');
    const last = s.slice(s.lastIndexOf('Conversations:'));
    assert.match(last, /carol\s+—/, `carol has no unread now:\n${last}`);
    assert.match(last, /▶ #team/);

    term.type('/q');
    await term.waitFor((x) => /^alice>\s*$/.test(x.split('\n').at(-1) ?? ''), 'the plain prompt again');
    term.type('no conversation now');
    await term.waitForText(/Commands start with "\/"/);
    term.type('/quit');
    assert.equal(await term.exitCode(), 0, term.screen());
  } finally {
    term.close();
  }
});

test('script mode: /query sets where plain lines go; without it they are refused as before', async () => {
  const r = await runCli([...conn('alice'), '--json'], { env, input: 'not a command\n/query bob\nscripted plain line\n/q\n' });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    lines.filter((l) => l.event === 'error').map((l) => [l.command, l.code]),
    [['not a command', 'usage']],
  );
  const results = lines.filter((l) => l.event === 'result');
  assert.deepEqual(
    results.map((l) => [l.command, 'conversation' in l ? l.conversation : l.id !== undefined]),
    [
      ['/query bob', 'bob'],
      ['scripted plain line', true],
      ['/q', null],
    ],
  );
  await waitUntil(() => received.bob.some((m) => m.text === 'scripted plain line'), 'bob to get the scripted line');
});
