/**
 * Runs one parsed command against a ChatClient and describes the outcome twice: as data (for
 * `--json`) and as human lines. The REPL and script mode differ only in how they print and ask.
 */
import { SecureChatError } from '../errors.js';
import type { ChatClient, Progress } from './chat-client.js';
import { HELP_TEXT, type ChatCommand } from './commands.js';
import { formatMessage, safeText, type Palette } from './format.js';
import { formatBytes } from './progress.js';

export interface ExecEnv {
  chat: ChatClient;
  palette: Palette;
  /** Progress for an outgoing file; the REPL draws a bar, script mode passes nothing. */
  sendProgress?: (name: string, size?: number) => { update: Progress; finish(): void };
  /** Asks for old and new password (REPL, hidden); absent in script mode. */
  askPasswords?: () => Promise<{ oldPassword: string; newPassword: string }>;
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
      return { data: { help: HELP_TEXT }, lines: [HELP_TEXT] };
    case 'who': {
      const users = await chat.who();
      const lines = users.length === 0 ? ['nobody is online'] : users.map((u) => `  ${p.green('●')} ${safeText(u.username)} ${p.dim(`${safeText(u.ip)} ${u.uuid}`)}`);
      return { data: { users }, lines: [`${users.length} online:`, ...lines] };
    }
    case 'msg': {
      const r = await chat.dm(cmd.to, cmd.text);
      return { data: { ...r }, lines: [p.dim(`sent to ${safeText(cmd.to)} (id ${r.id})`)] };
    }
    case 'gsend': {
      const r = await chat.groupSend(cmd.group, cmd.text);
      return { data: { ...r }, lines: [p.dim(`sent to #${safeText(cmd.group)} (id ${r.id})`)] };
    }
    case 'send': {
      const name = cmd.path.split(/[/\\]/).pop() ?? cmd.path;
      const bar = env.sendProgress?.(name);
      try {
        const r = await chat.sendFile({ ...('group' in cmd.target ? { group: cmd.target.group } : { to: cmd.target.user }), path: cmd.path, ...(bar ? { onProgress: bar.update } : {}) });
        bar?.finish();
        const dest = 'group' in cmd.target ? `#${cmd.target.group}` : cmd.target.user;
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
      const q = 'group' in cmd.target ? { group: cmd.target.group } : { with: cmd.target.user };
      const messages = await chat.history({ ...q, limit: cmd.limit ?? DEFAULT_HISTORY });
      return { data: { messages }, lines: messages.length === 0 ? ['no messages'] : messages.map((m) => formatMessage(m, p)) };
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

async function executeGroup(cmd: Extract<ChatCommand, { kind: 'group' }>, env: ExecEnv): Promise<CommandOutcome> {
  const { chat, palette: p } = env;
  switch (cmd.action) {
    case 'list': {
      const groups = await chat.groupList();
      const lines = groups.map((g) => `  #${safeText(g.name)} ${p.dim(`${g.role}, ${g.member_count} member${g.member_count === 1 ? '' : 's'}`)}`);
      return { data: { groups }, lines: groups.length === 0 ? ['you are in no group'] : lines };
    }
    case 'create': {
      const group = await chat.groupCreate(cmd.group);
      return { data: { group }, lines: [`created #${safeText(group.name)}`] };
    }
    case 'info': {
      const info = await chat.groupInfo(cmd.group);
      const lines = info.members.map((m) => `  ${m.online ? p.green('●') : p.dim('○')} ${safeText(m.username)} ${p.dim(m.role)}`);
      return { data: { ...info }, lines: [`#${safeText(info.group.name)}: ${info.members.length} members`, ...lines] };
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
      const extra = r.deleted ? ' (it was deleted: you were the last member)' : r.new_owner ? ` (${safeText(r.new_owner)} is the new owner)` : '';
      return { data: { ...r }, lines: [`left #${safeText(cmd.group)}${extra}`] };
    }
    case 'rename':
      await chat.groupRename(cmd.group, cmd.name);
      return { data: {}, lines: [`renamed #${safeText(cmd.group)} to #${safeText(cmd.name)}`] };
    case 'delete':
      await chat.groupDelete(cmd.group);
      return { data: {}, lines: [`deleted #${safeText(cmd.group)}`] };
  }
}
