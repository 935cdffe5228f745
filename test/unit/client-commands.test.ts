import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecureChatError } from '../../src/errors.js';
import { COMMAND_NAMES, commandHelp, parseCommand, redactCommand, HELP_TEXT } from '../../src/client/commands.js';

function usageError(line: string): SecureChatError {
  try {
    parseCommand(line);
  } catch (err) {
    assert.ok(err instanceof SecureChatError);
    assert.equal(err.code, 'usage');
    return err;
  }
  assert.fail(`expected "${line}" to be refused`);
}

test('/msg keeps the text verbatim after the user', () => {
  assert.deepEqual(parseCommand('/msg bob hi there'), { kind: 'msg', to: 'bob', text: 'hi there' });
  assert.deepEqual(parseCommand('  /msg   bob   spaced  out  '), { kind: 'msg', to: 'bob', text: 'spaced  out' });
  assert.deepEqual(parseCommand('/MSG bob x'), { kind: 'msg', to: 'bob', text: 'x' });
});

test('/msg without text or user is a usage error naming the syntax', () => {
  assert.match(usageError('/msg bob').message, /Missing text.*Usage: \/msg USER TEXT/);
  assert.match(usageError('/msg').message, /Missing user/);
  assert.match(usageError('/msg bob    ').message, /Missing text/);
});

test('/g accepts the group with or without #', () => {
  assert.deepEqual(parseCommand('/g team hello all'), { kind: 'gsend', group: 'team', text: 'hello all' });
  assert.deepEqual(parseCommand('/g #team hello'), { kind: 'gsend', group: 'team', text: 'hello' });
  usageError('/g team');
  usageError('/g # hi');
});

test('/send: #name is a group, anything else a user; quoted paths keep spaces', () => {
  assert.deepEqual(parseCommand('/send bob ./a.txt'), { kind: 'send', target: { user: 'bob' }, path: './a.txt' });
  assert.deepEqual(parseCommand('/send #team /tmp/my file.pdf'), { kind: 'send', target: { group: 'team' }, path: '/tmp/my file.pdf' });
  assert.deepEqual(parseCommand('/send bob "/tmp/x y.txt"'), { kind: 'send', target: { user: 'bob' }, path: '/tmp/x y.txt' });
  // One argument: a path for the current conversation (refused at execution when there is none).
  assert.deepEqual(parseCommand('/send ./a.txt'), { kind: 'send', path: './a.txt' });
  usageError('/send');
});

test('/history with optional bounded N', () => {
  assert.deepEqual(parseCommand('/history bob'), { kind: 'history', target: { user: 'bob' } });
  assert.deepEqual(parseCommand('/history #team 5'), { kind: 'history', target: { group: 'team' }, limit: 5 });
  usageError('/history bob 0');
  usageError('/history bob 201');
  usageError('/history bob x');
  usageError('/history bob 5 6');
  assert.deepEqual(parseCommand('/history'), { kind: 'history' });
});

test('/group actions and their arity', () => {
  assert.deepEqual(parseCommand('/group list'), { kind: 'group', action: 'list' });
  assert.deepEqual(parseCommand('/group create team'), { kind: 'group', action: 'create', group: 'team' });
  assert.deepEqual(parseCommand('/group add #team bob'), { kind: 'group', action: 'add', group: 'team', user: 'bob' });
  assert.deepEqual(parseCommand('/group promote team bob'), { kind: 'group', action: 'promote', group: 'team', user: 'bob' });
  assert.deepEqual(parseCommand('/group rename team #crew'), { kind: 'group', action: 'rename', group: 'team', name: 'crew' });
  assert.deepEqual(parseCommand('/group info team'), { kind: 'group', action: 'info', group: 'team' });
  assert.match(usageError('/group add team').message, /Usage: \/group add GROUP USER/);
  assert.match(usageError('/group frob team').message, /Unknown group action "frob"/);
  usageError('/group');
  usageError('/group list extra');
});

test('simple commands, blank lines and comments', () => {
  assert.deepEqual(parseCommand('/who'), { kind: 'who' });
  assert.deepEqual(parseCommand('/help'), { kind: 'help' });
  assert.deepEqual(parseCommand('/quit'), { kind: 'quit' });
  assert.deepEqual(parseCommand('/passwd'), { kind: 'passwd' });
  assert.deepEqual(parseCommand('/passwd old-secret new-secret'), { kind: 'passwd', oldPassword: 'old-secret', newPassword: 'new-secret' });
  assert.equal(parseCommand('   '), null);
  assert.equal(parseCommand('# a comment'), null);
  usageError('/who bob');
  usageError('/passwd onlyone');
});

test('unknown commands and plain text are refused with a hint', () => {
  assert.match(usageError('/frobnicate').message, /Unknown command \/frobnicate/);
  assert.match(usageError('hello bob').message, /\/msg USER TEXT/);
});

test('conversation mode: /query, /q, plain lines, "//" and "#" lines, /list and /unread', () => {
  assert.deepEqual(parseCommand('/query bob'), { kind: 'query', target: { user: 'bob' } });
  assert.deepEqual(parseCommand('/q #team'), { kind: 'query', target: { group: 'team' } });
  assert.deepEqual(parseCommand('/q "#my team"'), { kind: 'query', target: { group: 'my team' } });
  assert.deepEqual(parseCommand('/q'), { kind: 'query', target: null });
  usageError('/query bob carol');
  const inConv = { conversation: true, comments: false };
  assert.deepEqual(parseCommand('hello  there ', inConv), { kind: 'say', text: 'hello  there' });
  assert.deepEqual(parseCommand('//me waves', inConv), { kind: 'say', text: '/me waves' });
  assert.deepEqual(parseCommand('#1 priority', inConv), { kind: 'say', text: '#1 priority' });
  assert.equal(parseCommand('# a comment', { conversation: true }), null, 'scripts keep their comments');
  assert.deepEqual(parseCommand('/msg carol hi', inConv), { kind: 'msg', to: 'carol', text: 'hi' });
  assert.deepEqual(parseCommand('/list'), { kind: 'list' });
  assert.deepEqual(parseCommand('/unread'), { kind: 'list' });
});

test('/help COMMAND gives usage and an example; an unknown topic is a usage error', () => {
  assert.deepEqual(parseCommand('/help query'), { kind: 'help', topic: 'query' });
  assert.match(commandHelp('q'), /\/query USER\|#GROUP[\s\S]*Example: \/query bob/);
  assert.match(commandHelp('/msg'), /Example: \/msg bob/);
  for (const name of COMMAND_NAMES) assert.match(commandHelp(name), /Example: \//, name);
  assert.match(usageError('/help frob').message, /No command \/frob/);
});

test('passwords never appear in a redacted command line', () => {
  assert.equal(redactCommand('/passwd hunter2hunter2 n3w-secret!'), '/passwd ***');
  assert.equal(redactCommand(' /msg bob hi '), '/msg bob hi');
});

test('help documents the addressing rule', () => {
  assert.match(HELP_TEXT, /"#name" is a group/);
});

test('names with spaces are quoted the same way in every command', () => {
  assert.deepEqual(parseCommand('/group create "my team"'), { kind: 'group', action: 'create', group: 'my team' });
  assert.deepEqual(parseCommand("/group create 'my team'"), { kind: 'group', action: 'create', group: 'my team' });
  assert.deepEqual(parseCommand('/g "Team Two" hi there'), { kind: 'gsend', group: 'Team Two', text: 'hi there' });
  assert.deepEqual(parseCommand('/g #"Team Two" hi'), { kind: 'gsend', group: 'Team Two', text: 'hi' });
  assert.deepEqual(parseCommand('/g "#Team Two" hi'), { kind: 'gsend', group: 'Team Two', text: 'hi' });
  assert.deepEqual(parseCommand('/send "#Team Two" "./my file.txt"'), { kind: 'send', target: { group: 'Team Two' }, path: './my file.txt' });
  assert.deepEqual(parseCommand('/history "#Team Two" 5'), { kind: 'history', target: { group: 'Team Two' }, limit: 5 });
  assert.deepEqual(parseCommand('/group add "Team Two" bob'), { kind: 'group', action: 'add', group: 'Team Two', user: 'bob' });
  assert.deepEqual(parseCommand('/group rename "Team Two" "Team 3"'), { kind: 'group', action: 'rename', group: 'Team Two', name: 'Team 3' });
  assert.deepEqual(parseCommand('/group info "say \\"hi\\""'), { kind: 'group', action: 'info', group: 'say "hi"' });
  // Unquoted, a second word is an error that says how to quote, never a different group.
  assert.match(usageError('/group create my team').message, /need quotes/);
  assert.match(usageError('/g "Team Two hi').message, /Unterminated/);
});
