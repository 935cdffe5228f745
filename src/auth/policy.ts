/**
 * Password policy (NIST SP 800-63B style: length and a blocklist, no composition rules):
 * at least 10 characters, not containing the username, not a well-known password.
 */
import { SecureChatError } from '../errors.js';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

// Compared case-insensitively. Only entries of 10+ characters matter (shorter ones fail on length).
const COMMON_PASSWORDS = new Set([
  '1234567890', '0123456789', '0987654321', '1111111111', '123456789a', '1234567890a', '12345678910',
  'password12', 'password123', 'password1234', 'password!1', 'passw0rd12', 'p@ssw0rd123', 'passwordpassword',
  'qwertyuiop', 'qwerty1234', 'qwerty12345', 'qwertyuiop123', '1q2w3e4r5t', '1qaz2wsx3edc', 'zaq12wsxcde3',
  'abc1234567', 'abcdefghij', 'iloveyou12', 'iloveyou123', 'letmein123', 'welcome123', 'welcome1234',
  'administrator', 'admin12345', 'admin123456', 'changeme123', 'football123', 'baseball123', 'sunshine123',
  'princess123', 'dragon1234', 'monkey1234', 'trustno1234', 'superman123', 'starwars123', 'whatever123',
  'securechat', 'securechat1', 'securechat123', 'correcthorsebatterystaple',
]);

export type PolicyReason = 'too_short' | 'too_long' | 'contains_username' | 'common' | 'repetitive';

function weak(reason: PolicyReason, message: string): SecureChatError {
  return new SecureChatError('weak_password', message, { reason });
}

/** Throws SecureChatError('weak_password', …, {reason}) when the password is not acceptable. */
export function checkPasswordPolicy(password: string, username: string): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) throw weak('too_short', `Password too weak: use at least ${MIN_PASSWORD_LENGTH} characters.`);
  if (length > MAX_PASSWORD_LENGTH) throw weak('too_long', `Password too long: at most ${MAX_PASSWORD_LENGTH} characters.`);
  const lower = password.toLowerCase();
  if (username && lower.includes(username.toLowerCase())) throw weak('contains_username', 'Password too weak: it must not contain the username.');
  if (COMMON_PASSWORDS.has(lower)) throw weak('common', 'Password too weak: it is a well-known password.');
  if (new Set(password).size === 1) throw weak('repetitive', 'Password too weak: it repeats one character.');
}
