/**
 * Account logic, shared by the wire handlers and the operator CLI: registration and login bound to
 * the certificate (account name = certificate CN), password policy and hashing, throttling, the
 * auth audit log. It holds no session state; the caller (the auth handler) keeps "who is logged in
 * on this connection". Nothing secret is logged or audited.
 */
import { SecureChatError } from '../errors.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, needsRehash, verifyPassword } from '../auth/password.js';
import type { ScryptParams } from '../auth/password.js';
import { checkPasswordPolicy } from '../auth/policy.js';
import { LoginThrottle, type LoginThrottleLike } from '../auth/throttle.js';
import type { AuditEvent, Storage, User } from '../storage/types.js';
import { PasswordWork, type WorkKey } from './password-work.js';

/** What callers get back about an account: never the password hash. */
export type Account = Omit<User, 'passwordHash'>;

/** A successful register/login: the account and the credential version the session runs under. */
export type LoginResult = Account & { credentialVersion: number };

export interface AccountServiceOptions {
  storage: Storage;
  log?: Logger;
  throttle?: LoginThrottleLike;
  /** Parameters for new hashes; stored hashes with weaker ones are upgraded at login. */
  scryptParams?: ScryptParams;
  /** Fair scheduling of the scrypt work per address and certificate. */
  work?: PasswordWork;
}

/** Who is on the other end: the verified certificate's CN and SHA-256 fingerprint, and the source address. */
export interface PeerIdentity {
  certUsername: string;
  fingerprint: string;
  ip: string;
}

export interface RegisterRequest extends PeerIdentity {
  username: string;
  password: string;
}

export type LoginRequest = RegisterRequest;

export interface ChangePasswordRequest {
  username: string;
  oldPassword: string;
  newPassword: string;
  ip: string;
  /** The session making the change: it stays logged in, the user's other sessions end. */
  originSession?: string;
}

/** Letters, digits, '.', '_', '-'; starts with a letter or digit; at most 64 characters. */
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function workKey(peer: PeerIdentity): WorkKey {
  return { ip: peer.ip, certificate: peer.fingerprint };
}

export function toAccount(user: User): Account {
  return { id: user.id, uuid: user.uuid, username: user.username, disabled: user.disabled, createdAt: user.createdAt };
}

export function validateUsername(username: string): void {
  if (typeof username !== 'string' || !USERNAME_PATTERN.test(username)) {
    throw new SecureChatError('bad_request', 'Invalid username: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit.', {
      reason: 'bad_username',
    });
  }
}

export class AccountService {
  private readonly storage: Storage;
  private readonly log: Logger;
  readonly throttle: LoginThrottleLike;
  private readonly params: ScryptParams;
  private readonly work: PasswordWork;
  private dummyHash: Promise<string> | undefined;

  constructor(options: AccountServiceOptions) {
    this.storage = options.storage;
    this.log = options.log ?? silentLogger();
    this.throttle = options.throttle ?? new LoginThrottle();
    this.params = options.scryptParams ?? DEFAULT_SCRYPT_PARAMS;
    this.work = options.work ?? new PasswordWork();
  }

  /** Every scrypt of a peer's request goes through the fair scheduler, keyed by address and certificate. */
  private hashFor(key: WorkKey, password: string): Promise<string> {
    return this.work.run(key, () => hashPassword(password, this.params));
  }

  private verifyFor(key: WorkKey, password: string, stored: string): Promise<boolean> {
    return this.work.run(key, () => verifyPassword(password, stored));
  }

  /** Audit is best effort: a failing audit write is logged, it does not change the outcome. */
  private async audit(event: AuditEvent, username: string, ip: string | null, detail?: string): Promise<void> {
    try {
      await this.storage.audit({ username, ip, event, detail: detail ?? null });
    } catch (err) {
      this.log.error('auth audit write failed', { event, username, ip, error: (err as Error).message });
    }
  }

  private async checkCertificateName(username: string, certUsername: string, ip: string): Promise<void> {
    if (username !== certUsername) {
      this.log.warn('username does not match certificate CN', { username, certUsername, ip });
      await this.audit('name_mismatch', username, ip, `certificate CN ${certUsername}`);
      throw new SecureChatError('name_mismatch');
    }
  }

  async register(req: RegisterRequest): Promise<LoginResult> {
    await this.checkCertificateName(req.username, req.certUsername, req.ip);
    validateUsername(req.username);
    checkPasswordPolicy(req.password, req.username);
    // Cheap check before the costly one: a taken name is refused without running scrypt
    // (createUser still refuses a race between two registrations).
    if (await this.storage.getUserByName(req.username)) throw new SecureChatError('exists');
    const passwordHash = await this.hashFor(workKey(req), req.password);
    const user = await this.storage.createUser({ username: req.username, passwordHash });
    await this.storage.recordCertificate(user.id, req.fingerprint);
    // The address a user registered from is a known source, like one they logged in from.
    await this.rememberSource(user, req.ip);
    await this.audit('register', user.username, req.ip);
    this.log.info('account registered', { username: user.username, ip: req.ip });
    return { ...toAccount(user), credentialVersion: 0 };
  }

  /** Trusts (user, ip) against the account-wide throttle, in memory and in storage (survives a restart). */
  private async rememberSource(user: Pick<User, 'id' | 'username'>, ip: string): Promise<void> {
    await this.throttle.recordSuccess({ username: user.username, ip });
    try {
      await this.storage.recordLoginSource(user.id, ip);
    } catch (err) {
      this.log.warn('could not record the login source', { username: user.username, ip, error: (err as Error).message });
    }
  }

  /** After a restart the in-memory throttle has forgotten known sources: ask storage once. */
  private async loadKnownSource(user: User | null, ip: string): Promise<void> {
    if (!user) return;
    const attempt = { username: user.username, ip };
    if (await this.throttle.isKnownSource(attempt)) return;
    const at = await this.storage.loginSourceLastSeen(user.id, ip);
    if (at !== null) await this.throttle.markKnown(attempt, at);
  }

  /** Runs a full scrypt against a throwaway hash so that unknown users cost as much as known ones. */
  private async equaliseTiming(key: WorkKey, password: string): Promise<void> {
    this.dummyHash ??= hashPassword('not-a-real-password', this.params);
    await this.verifyFor(key, password, await this.dummyHash);
  }

  private async failLogin(req: { username: string; ip: string }, detail: string): Promise<never> {
    await this.throttle.recordFailure(req);
    await this.audit('login_failed', req.username, req.ip, detail);
    this.log.warn('login failed', { username: req.username, ip: req.ip, reason: detail });
    throw new SecureChatError('auth_failed');
  }

  private async checkThrottle(req: { username: string; ip: string }): Promise<void> {
    try {
      await this.throttle.check(req);
    } catch (err) {
      const retryAfterMs = (err as SecureChatError).details?.retryAfterMs;
      await this.audit('throttled', req.username, req.ip, `retry after ${String(retryAfterMs)} ms`);
      this.log.warn('login throttled', { username: req.username, ip: req.ip, retryAfterMs });
      throw err;
    }
  }

  /**
   * Verifies the password of `username` (which must be the certificate's CN). Errors: name_mismatch,
   * throttled, auth_failed (same for an unknown user and a wrong password), account_disabled (only
   * revealed after a correct password), storage_unavailable.
   */
  async login(req: LoginRequest): Promise<LoginResult> {
    await this.checkCertificateName(req.username, req.certUsername, req.ip);
    const user = await this.storage.getUserByName(req.username);
    await this.loadKnownSource(user, req.ip);
    await this.checkThrottle(req);
    if (!user || user.username !== req.username) {
      await this.equaliseTiming(workKey(req), req.password);
      return this.failLogin(req, user ? 'name differs in case' : 'unknown user');
    }
    const versionBefore = await this.storage.credentialVersion(user.id);
    if (!(await this.verifyFor(workKey(req), req.password, user.passwordHash))) return this.failLogin(req, 'wrong password');
    if (user.disabled) {
      await this.audit('login_failed', user.username, req.ip, 'account disabled');
      throw new SecureChatError('account_disabled');
    }
    // Checked again after the (slow) password check: a disable or reset that landed meanwhile must
    // not let this login through, because its account event may already have been processed.
    const credentialVersion = await this.checkUnchanged(user, versionBefore, req.ip);
    await this.rememberSource(user, req.ip);
    await this.storage.recordCertificate(user.id, req.fingerprint);
    if (needsRehash(user.passwordHash, this.params)) await this.rehash(user, req.password, workKey(req));
    await this.audit('login_ok', user.username, req.ip);
    this.log.info('login ok', { username: user.username, ip: req.ip });
    return { ...toAccount(user), credentialVersion };
  }

  private async checkUnchanged(user: User, versionBefore: number, ip: string): Promise<number> {
    const version = await this.storage.credentialVersion(user.id);
    if (version === versionBefore) return version;
    const fresh = await this.storage.getUserById(user.id);
    const code = fresh?.disabled !== false ? 'account_disabled' : 'credentials_changed';
    await this.audit('login_failed', user.username, ip, code === 'account_disabled' ? 'account disabled' : 'credentials changed during login');
    throw new SecureChatError(code);
  }

  private async rehash(user: User, password: string, key: WorkKey): Promise<void> {
    try {
      await this.storage.setPasswordHash(user.id, await this.hashFor(key, password));
      this.log.info('password hash upgraded to current scrypt parameters', { username: user.username });
    } catch (err) {
      // The login itself succeeded; the upgrade is retried next time.
      this.log.warn('password hash upgrade failed', { username: user.username, error: (err as Error).message });
    }
  }

  /**
   * Session-bound: `username` is the logged-in account. Throttled like a login (it checks a
   * password). Ends the user's other sessions (credentials_changed); returns the new credential
   * version, which the calling session now runs under.
   */
  async changePassword(req: ChangePasswordRequest): Promise<number> {
    await this.checkThrottle(req);
    const key = { ip: req.ip, certificate: `account:${req.username}` };
    const user = await this.storage.getUserByName(req.username);
    if (!user) {
      await this.equaliseTiming(key, req.oldPassword);
      return this.failLogin(req, 'unknown user (change password)');
    }
    if (!(await this.verifyFor(key, req.oldPassword, user.passwordHash))) return this.failLogin(req, 'wrong password (change password)');
    if (user.disabled) throw new SecureChatError('account_disabled');
    checkPasswordPolicy(req.newPassword, user.username);
    const version = await this.storage.changeCredentials(user.id, {
      kind: 'credentials_changed',
      passwordHash: await this.hashFor(key, req.newPassword),
      originSession: req.originSession ?? null,
    });
    await this.throttle.recordSuccess(req);
    await this.audit('password_changed', user.username, req.ip);
    this.log.info('password changed', { username: user.username, ip: req.ip });
    return version;
  }

  async logout(req: { username: string; ip: string }): Promise<void> {
    await this.audit('logout', req.username, req.ip);
  }

  // --- operator actions (securechat user …) ---

  private async mustGet(username: string): Promise<User> {
    const user = await this.storage.getUserByName(username);
    if (!user) throw new SecureChatError('unknown_user', `No such user: ${username}.`);
    return user;
  }

  async getAccount(username: string): Promise<Account & { certificates: Awaited<ReturnType<Storage['listCertificates']>> }> {
    const user = await this.mustGet(username);
    return { ...toAccount(user), certificates: await this.storage.listCertificates(user.id) };
  }

  async listAccounts(): Promise<Account[]> {
    return (await this.storage.listUsers()).map(toAccount);
  }

  /** Disabling ends the user's live sessions on every server process sharing the database (account_disabled). */
  async setDisabled(username: string, disabled: boolean, actor = 'operator'): Promise<Account> {
    const user = await this.mustGet(username);
    if (disabled) await this.storage.changeCredentials(user.id, { kind: 'disabled', disabled: true });
    else await this.storage.setDisabled(user.id, false);
    await this.audit(disabled ? 'disabled' : 'enabled', user.username, null, `by ${actor}`);
    return { ...toAccount(user), disabled };
  }

  async resetPassword(username: string, newPassword: string, actor = 'operator'): Promise<void> {
    const user = await this.mustGet(username);
    checkPasswordPolicy(newPassword, user.username);
    // Ends the user's live sessions (credentials_changed): whoever knew the old password is out.
    await this.storage.changeCredentials(user.id, { kind: 'credentials_changed', passwordHash: await hashPassword(newPassword, this.params) });
    await this.audit('password_reset', user.username, null, `by ${actor}`);
  }
}
