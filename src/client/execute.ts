/**
 * Runs one parsed command against a ChatClient and describes the outcome twice: as data (for
 * `--json`) and as human lines. The REPL and script mode differ only in how they print and ask.
 */
import { SecureChatError } from '../errors.js';
import type { ChatClient, OnlineUser, Progress, SentMessage } from './chat-client.js';
import { commandHelp, HELP_TEXT, type ChatCommand, type Target } from './commands.js';
import { targetKey, type Conversations } from './conversations.js';
import { formatHistory, safeText, type Palette } from './format.js';
import { formatBytes } from './progress.js';

export interface ExecEnv {
  chat: ChatClient;
  palette: Palette;
  /** Progress for an outgoing file; the REPL draws a bar, script mode passes nothing. */
  sendProgress?: (name: string, size?: number) => { update: Progress; finish(): void };
  /** Asks for old and new password (REPL, hidden); absent in script mode. */
  askPasswords?: () => Promise<{ oldPassword: string; newPassword: string }>;
  /** The current conversation and unread counts (`/query`, `/list`, plain lines). */
  conversations: Conversations;
  /**
   * The REPL shows your own messages in the conversation like incoming ones and marks them when
   * stored and delivered: it is told before the send and gets the outcome. Script mode passes
   * nothing and prints "sent to bob (id 1)".
   */
  ownMessage?: (to: Target, text: string, file?: { name: string; size: number }) => { stored(r: SentMessage): void; failed(err: unknown): void };
}

export interface CommandOutcome {
  data: Record<string, unknown>;
  lines: string[];
}

const DEFAULT_HISTORY = 20;

export async function executeCommand(cmd: Exclude<ChatCommand, { kind: 'quit' }>, env: ExecEnv): Promise<CommandOutcome> {
  const { chat, palette: p } = env;
  switch (cmd.kind) {
    case 'help':
      if (cmd.topic !== undefined) {
        const text = commandHelp(cmd.topic);
        return { data: { help: text }, lines: [text] };
      }
      return { data: { help: HELP_TEXT }, lines: [HELP_TEXT] };
    case 'who': {
      const users = onePerUser(await chat.who());
      const lines =
        users.length === 0
          ? ['nobody is online']
          : users.map((u) => `  ${p.green('●')} ${safeText(u.username)}${u.sessions > 1 ? p.dim(` (${u.sessions} sessions)`) : ''}${u.ip !== undefined ? p.dim(`  ${safeText(u.ip)}`) : ''}`);
      return { data: { users }, lines: [`${users.length} online:`, ...lines] };
    }
    case 'query': {
      env.conversations.setCurrent(cmd.target);
      if (!cmd.target) return { data: { conversation: null }, lines: [p.dim('no current conversation: lines need a command again (/msg, /g)')] };
      const key = targetKey(cmd.target);
      return {
        data: { conversation: key },
        lines: [p.dim(`talking to ${safeText(key)}: lines without "/" go there; /q to stop, /history for earlier messages`)],
      };
    }
    case 'list': {
      for (const g of await chat.groupList()) env.conversations.knowGroup(g.name);
      const list = env.conversations.list();
      const conversations = list.map((e) => ({ name: e.key, kind: e.kind, unread: e.unread, ...(env.conversations.isCurrent(e.kind === 'group' ? { group: e.name } : { user: e.name }) ? { current: true } : {}) }));
      const lines = conversations.map(
        // Padded before colouring: escape codes would count as width.
        (c) => `  ${c.current ? p.bold('▶') : ' '} ${c.kind === 'group' ? p.cyan(safeText(c.name).padEnd(24)) : safeText(c.name).padEnd(24)} ${c.unread > 0 ? p.yellow(`${c.unread} unread`) : p.dim('—')}`,
      );
      return { data: { conversations }, lines: lines.length === 0 ? ['no conversations yet: /query USER to start one'] : ['Conversations:', ...lines] };
    }
    case 'msg':
      return sendText({ user: cmd.to }, cmd.text, env);
    case 'gsend':
      return sendText({ group: cmd.group }, cmd.text, env);
    case 'say': {
      const to = env.conversations.current;
      if (!to) throw new SecureChatError('usage', 'No current conversation: /query USER or /query #GROUP first.');
      return sendText(to, cmd.text, env);
    }
    case 'send': {
      const target = cmd.target ?? currentOrUsage(env, '/send USER|#GROUP PATH');
      const name = cmd.path.split(/[/\\]/).pop() ?? cmd.path;
      const bar = env.sendProgress?.(name);
      try {
        const r = await chat.sendFile({ ...('group' in target ? { group: target.group } : { to: target.user }), path: cmd.path, ...(bar ? { onProgress: bar.update } : {}) });
        bar?.finish();
        const dest = targetKey(target);
        // The REPL shows the file in the conversation once it is stored, and marks it ✓✓ when fetched.
        const shown = env.ownMessage?.(target, '', { name: r.file.name, size: r.file.size });
        if (shown) {
          shown.stored(r);
          return { data: { ...r }, lines: [] };
        }
        return {
          data: { ...r },
          lines: [p.dim(`sent ${safeText(r.file.name)} (${formatBytes(r.file.size)}, sha256 ${r.file.sha256.slice(0, 16)}…) to ${safeText(dest)} (id ${r.id})`)],
        };
      } catch (err) {
        bar?.finish();
        throw err;
      }
    }
    case 'history': {
      const target = cmd.target ?? currentOrUsage(env, '/history USER|#GROUP [N]');
      const q = 'group' in target ? { group: target.group } : { with: target.user };
      const messages = await chat.history({ ...q, limit: cmd.limit ?? DEFAULT_HISTORY });
      env.conversations.markRead(target);
      return { data: { messages }, lines: messages.length === 0 ? ['no messages'] : formatHistory(messages, p) };
    }
    case 'passwd': {
      let oldPassword = cmd.oldPassword;
      let newPassword = cmd.newPassword;
      if (oldPassword === undefined || newPassword === undefined) {
        if (!env.askPasswords) throw new SecureChatError('usage', 'In script mode: /passwd OLD NEW');
        ({ oldPassword, newPassword } = await env.askPasswords());
      }
      await chat.changePassword(oldPassword, newPassword);
      return { data: {}, lines: ['password changed'] };
    }
    case 'group':
      return executeGroup(cmd, env);
  }
}

/** A DM or group message; the REPL shows it in the conversation, script mode as "sent to …". */
async function sendText(to: Target, text: string, env: ExecEnv): Promise<CommandOutcome> {
  const { chat, palette: p } = env;
  const shown = env.ownMessage?.(to, text);
  try {
    const r = 'group' in to ? await chat.groupSend(to.group, text) : await chat.dm(to.user, text);
    env.conversations.markRead(to);
    shown?.stored(r);
    return { data: { ...r }, lines: shown ? [] : [p.dim(`sent to ${'group' in to ? `#${safeText(to.group)}` : safeText(to.user)} (id ${r.id})`)] };
  } catch (err) {
    shown?.failed(err);
    throw err;
  }
}

function currentOrUsage(env: ExecEnv, usage: string): Target {
  const t = env.conversations.current;
  if (!t) throw new SecureChatError('usage', `No current conversation (/query USER|#GROUP). Usage: ${usage}`);
  return t;
}

export interface WhoEntry {
  uuid: string;
  username: string;
  /** How many sessions (devices) the user has open. */
  sessions: number;
  /** Only for your own sessions: the address of the first. */
  ip?: string;
}

/** The server lists sessions; people want users: each once, with the number of sessions. */
export function onePerUser(sessions: OnlineUser[]): WhoEntry[] {
  const byUuid = new Map<string, WhoEntry>();
  for (const s of sessions) {
    const e = byUuid.get(s.uuid);
    if (e) e.sessions++;
    else byUuid.set(s.uuid, { uuid: s.uuid, username: s.username, sessions: 1, ...(typeof s.ip === 'string' ? { ip: s.ip } : {}) });
  }
  return [...byUuid.values()].sort((a, b) => a.username.localeCompare(b.username));
}

async function executeGroup(cmd: Extract<ChatCommand, { kind: 'group' }>, env: ExecEnv): Promise<CommandOutcome> {
  const { chat, palette: p } = env;
  switch (cmd.action) {
    case 'list': {
      const groups = await chat.groupList();
      for (const g of groups) env.conversations.knowGroup(g.name);
      const lines = groups.map((g) => `  #${safeText(g.name)} ${p.dim(`${g.role}, ${g.member_count} member${g.member_count === 1 ? '' : 's'}`)}`);
      return { data: { groups }, lines: groups.length === 0 ? ['you are in no group'] : lines };
    }
    case 'create': {
      const group = await chat.groupCreate(cmd.group);
      env.conversations.knowGroup(group.name);
      return { data: { group }, lines: [`created #${safeText(group.name)}`] };
    }
    case 'info': {
      const info = await chat.groupInfo(cmd.group);
      const lines = info.members.map((m) => `  ${m.online ? p.green('●') : p.dim('○')} ${safeText(m.username)} ${p.dim(m.role)}`);
      return { data: { ...info }, lines: [`#${safeText(info.group.name)}: ${info.members.length} member${info.members.length === 1 ? '' : 's'}`, ...lines] };
    }
    case 'add':
      await chat.groupAdd(cmd.group, cmd.user);
      return { data: {}, lines: [`added ${safeText(cmd.user)} to #${safeText(cmd.group)}`] };
    case 'remove':
      await chat.groupRemove(cmd.group, cmd.user);
      return { data: {}, lines: [`removed ${safeText(cmd.user)} from #${safeText(cmd.group)}`] };
    case 'promote':
      await chat.groupPromote(cmd.group, cmd.user);
      return { data: {}, lines: [`${safeText(cmd.user)} is now an admin of #${safeText(cmd.group)}`] };
    case 'demote':
      await chat.groupDemote(cmd.group, cmd.user);
      return { data: {}, lines: [`${safeText(cmd.user)} is no longer an admin of #${safeText(cmd.group)}`] };
    case 'leave': {
      const r = await chat.groupLeave(cmd.group);
      env.conversations.forgetGroup(cmd.group);
      const extra = r.deleted ? ' (it was deleted: you were the last member)' : r.new_owner ? ` (${safeText(r.new_owner)} is the new owner)` : '';
      return { data: { ...r }, lines: [`left #${safeText(cmd.group)}${extra}`] };
    }
    case 'rename':
      await chat.groupRename(cmd.group, cmd.name);
      env.conversations.renameGroup(cmd.group, cmd.name);
      return { data: {}, lines: [`renamed #${safeText(cmd.group)} to #${safeText(cmd.name)}`] };
    case 'delete':
      await chat.groupDelete(cmd.group);
      env.conversations.forgetGroup(cmd.group);
      return { data: {}, lines: [`deleted #${safeText(cmd.group)}`] };
  }
}
