// The Docker files, checked without a Docker engine (there is none on the CI machine):
//   1. docker/compose.yaml against the Compose Specification JSON schema (docker/compose-spec.schema.json,
//      the compose-spec project's schema) plus this project's rules (healthchecks, named volumes, no CA key,
//      read-only root, dropped capabilities, no-new-privileges, secrets as files, pinned images);
//   2. docker/Dockerfile and .dockerignore against a rule list in the spirit of hadolint (no Dockerfile
//      linter is packaged for npm or Debian here): pinned current bases, non-root USER, HEALTHCHECK, no
//      anonymous VOLUME, no tsx at run time, apt hygiene, a build context without keys or data;
//   3. the image's build stage and start command, performed outside Docker: dist/ compiled into an /app
//      layout, the production dependency closure only (no tsx/TypeScript/esbuild reachable), the four
//      server files installed by certs-init's rule (uid 10001, 0400 key), the Dockerfile's ENV,
//      ENTRYPOINT and CMD plus the compose service's environment, run as uid 10001 against MariaDB with
//      the password from a secret file; then the HEALTHCHECK command, the log stream and SIGTERM.
// Usage: bash scripts/docker-check.sh [--static]   (exit 0 = every check passed; prints each one)
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
// Both ship with the dev toolchain (ESLint's own dependencies); the check is a dev-time tool.
const yaml = require('js-yaml');
const Ajv = require('ajv');

let failures = 0;
const ok = (what) => console.log(`ok    ${what}`);
const bad = (what) => {
  failures++;
  console.log(`FAIL  ${what}`);
};
const expect = (cond, what) => (cond ? ok(what) : bad(what));
const section = (title) => console.log(`\n== ${title}`);

// ---------- 1. compose ----------
section('docker/compose.yaml');
const compose = yaml.load(readFileSync(join(root, 'docker/compose.yaml'), 'utf8'));
const schema = JSON.parse(readFileSync(join(root, 'docker/compose-spec.schema.json'), 'utf8'));
delete schema.$schema; // draft-07, which this Ajv speaks natively
const ajv = new Ajv({ allErrors: true, unknownFormats: 'ignore', schemaId: 'auto' });
const valid = ajv.validate(schema, compose);
expect(valid, `valid against the Compose Specification schema${valid ? '' : `: ${ajv.errorsText(ajv.errors, { separator: '; ' })}`}`);
const services = compose.services ?? {};
const server = services.securechat ?? {};
const mysql = services.mysql ?? {};
expect(typeof compose.name === 'string' && compose.name.length > 0, `project name: ${compose.name}`);
expect(/^mysql:(8\.4|9\.\d+)\.\d+$/.test(mysql.image ?? ''), `mysql image pinned to 8.4.x or 9.x: ${mysql.image}`);
for (const [name, svc] of [['mysql', mysql], ['securechat', server]]) {
  expect(Array.isArray(svc.healthcheck?.test) && svc.healthcheck.test.length > 1 && !svc.healthcheck.disable, `${name} has a healthcheck`);
  expect((svc.security_opt ?? []).includes('no-new-privileges:true'), `${name}: security_opt no-new-privileges:true`);
}
expect(server.read_only === true, 'securechat: read_only root filesystem');
expect((server.tmpfs ?? []).some((t) => String(t).split(':')[0] === '/tmp'), 'securechat: tmpfs for /tmp');
expect(JSON.stringify(server.cap_drop) === '["ALL"]' && !server.cap_add, 'securechat: cap_drop [ALL], nothing added back');
const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
const mounts = (svc) => (svc.volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1], ro: /:ro$/.test(v) } : { source: v.source, target: v.target, ro: Boolean(v.read_only) }));
for (const [name, svc] of Object.entries(services)) {
  for (const m of mounts(svc)) {
    const named = declaredVolumes.has(m.source);
    const bind = !named;
    if (name === 'certs-init' && bind) {
      expect(/^\.\.\/certs\/(root_ca|crl|server_cert|server_key)\.pem$/.test(m.source) && m.ro, `certs-init binds ${m.source} read-only (one of the four server files)`);
    } else {
      expect(named, `${name}: ${m.source} -> ${m.target} is a named volume`);
    }
    expect(!/ca_key|_ca\b|intermediate_ca|root_ca_key|index\.json/.test(m.source) || /root_ca\.pem$/.test(m.source), `${name}: ${m.source} is not CA key material`);
  }
}
const serverCerts = mounts(server).find((m) => m.target === '/app/certs');
expect(serverCerts !== undefined && serverCerts.ro, 'securechat: /app/certs mounted read-only');
const environment = Object.entries(services).flatMap(([name, svc]) => Object.entries(svc.environment ?? {}).map(([k, v]) => [name, k, String(v)]));
for (const [name, key, value] of environment) {
  if (/PASSWORD|SECRET|TOKEN/.test(key) && !/_FILE$/.test(key) && !/RANDOM_ROOT_PASSWORD/.test(key)) bad(`${name}: secret ${key} set as a plain environment variable`);
  if (/\$\{[^}]*:-/.test(value)) bad(`${name}: ${key} has a silent default (${value})`);
  if (/^mysql:\/\/[^@/]*:[^@/]*@/.test(value)) bad(`${name}: ${key} holds a password inside the URL`);
}
ok(`no secret in plain environment variables, no silent defaults (${environment.length} variables read)`);
const secretFiles = Object.values(compose.secrets ?? {}).map((s) => s.file);
expect(secretFiles.length > 0 && secretFiles.every(Boolean), `secrets come from files: ${secretFiles.join(', ')}`);
expect((server.environment?.SECURECHAT_DB_PASSWORD_FILE ?? '').startsWith('/run/secrets/') && (mysql.environment?.MYSQL_PASSWORD_FILE ?? '').startsWith('/run/secrets/'), 'both services read the database password from /run/secrets');

// ---------- 2. Dockerfile and .dockerignore ----------
section('docker/Dockerfile and .dockerignore');
const dockerfileText = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
const instructions = dockerfileText
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(l);
    return { op: op.toUpperCase(), args };
  });
const args = Object.fromEntries(instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=')).map(([k, v]) => [k, v ?? '']));
const stages = [];
for (const ins of instructions) {
  if (ins.op === 'FROM') stages.push({ from: ins.args.replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? ''), body: [] });
  else if (stages.length > 0) stages[stages.length - 1].body.push(ins);
}
const runtime = stages[stages.length - 1];
for (const s of stages) {
  const image = s.from.split(/\s+/)[0];
  expect(/^node:(22|24)\.\d+\.\d+-(bookworm|trixie)-slim$/.test(image), `FROM ${image}: node 22/24 slim, pinned to a full version`);
}
const last = (op) => runtime.body.filter((i) => i.op === op).pop();
const user = last('USER')?.args ?? '';
expect(user !== '' && !/^(0|root)(:|$)/.test(user), `runtime USER ${user} is not root`);
expect(last('HEALTHCHECK') !== undefined && /CMD/.test(last('HEALTHCHECK').args), 'runtime stage has a HEALTHCHECK');
expect(!instructions.some((i) => i.op === 'VOLUME'), 'no anonymous VOLUME (compose names its volumes)');
const entrypoint = JSON.parse(last('ENTRYPOINT')?.args ?? 'null');
const cmd = JSON.parse(last('CMD')?.args ?? 'null');
expect(Array.isArray(entrypoint) && Array.isArray(cmd), 'ENTRYPOINT and CMD in exec form (signals reach node)');
expect(entrypoint?.[0] === 'node' && !JSON.stringify([entrypoint, cmd]).includes('tsx'), `the image starts node on the compiled CLI, no tsx: ${[...(entrypoint ?? []), ...(cmd ?? [])].join(' ')}`);
expect((cmd ?? []).includes('--no-generate'), 'serve --no-generate: the container never creates a CA of its own');
expect(!runtime.body.some((i) => /\btsx\b|esbuild|typescript/.test(i.args) && i.op !== 'ENV'), 'runtime stage copies/runs no tsx, esbuild or TypeScript');
expect(runtime.body.some((i) => i.op === 'COPY' && /--from=build \/app\/node_modules/.test(i.args)) && stages[0].body.some((i) => /npm prune --omit=dev/.test(i.args)), 'runtime node_modules are the build stage\'s after npm prune --omit=dev');
for (const ins of instructions.filter((i) => i.op === 'RUN' && /apt-get install/.test(i.args))) {
  expect(/--no-install-recommends/.test(ins.args) && /rm -rf \/var\/lib\/apt\/lists/.test(ins.args), 'apt-get install with --no-install-recommends, lists removed in the same layer');
}
const env = {};
for (const ins of runtime.body.filter((i) => i.op === 'ENV')) for (const m of ins.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];
expect(env.NO_COLOR === '1' && env.SECURECHAT_LOG_FILE === 'off', 'logs: stdout only (SECURECHAT_LOG_FILE=off), NO_COLOR=1');

// .dockerignore: last matching pattern wins, `!` re-includes (Docker's rules, for the patterns used here).
const ignoreRules = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const negate = l.startsWith('!');
    const glob = negate ? l.slice(1) : l;
    const re = glob
      .replace(/[.+^$()|[\]{}]/g, '\\$&')
      .replace(/\*\*\/?/g, '@@GLOBSTAR@@')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replace(/@@GLOBSTAR@@/g, '(?:.*/)?.*');
    return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
  });
const inContext = (path) => {
  let included = true;
  for (const r of ignoreRules) if (r.re.test(path)) included = r.negate;
  return included;
};
for (const path of ['node_modules/tsx/package.json', '.git/HEAD', 'certs/root_ca_key.pem', 'certs/intermediate_ca_key.pem', 'certs/server_key.pem', 'data/securechat.db', 'logs/securechat.log', 'dist/cli/index.js', 'test/unit/x.test.ts', 'src/fixture.pem', 'docker/secrets/db_password', '.env']) {
  expect(!inContext(path), `.dockerignore keeps ${path} out of the build context`);
}
for (const ins of instructions.filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !/--from=/.test(i.args))) {
  const sources = ins.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
  for (const src of sources) {
    const probe = existsSync(join(root, src)) && !src.endsWith('.json') && !src.includes('.') ? `${src.replace(/\/$/, '')}/x.ts` : src;
    expect(existsSync(join(root, src)) && inContext(probe), `COPY ${src}: exists and is in the build context`);
  }
}

// ---------- 3. build stage + start command outside Docker ----------
if (process.argv.includes('--static')) finish();
section('the image, built and started outside Docker');
const work = mkdtempSync(join(tmpdir(), 'securechat-docker-'));
const app = join(work, 'app');
// The image's /app: readable by everyone, writable by root only (the container's read-only root).
chmodSync(work, 0o755);
mkdirSync(app, { mode: 0o755 });
let child;
process.on('exit', () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});
const run = (cmdline, argv, opts = {}) => execFileSync(cmdline, argv, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

// Build stage: `npm run build` into /app/dist, then the runtime COPYs.
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')]);
for (const f of ['package.json', 'bin', 'docs/securechat.config.example.jsonc']) cpSync(join(root, f), join(app, f), { recursive: true });
// `npm prune --omit=dev`: only the production closure is reachable from /app/node_modules.
const prodPaths = run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root })
  .split('\n')
  .filter(Boolean)
  .map((p) => relative(join(root, 'node_modules'), p))
  .filter((p) => p && !p.startsWith('..') && !p.split(sep).slice(p.startsWith('@') ? 2 : 1).includes('node_modules'));
for (const p of new Set(prodPaths)) {
  mkdirSync(dirname(join(app, 'node_modules', p)), { recursive: true });
  symlinkSync(join(root, 'node_modules', p), join(app, 'node_modules', p));
}
expect(!existsSync(join(app, 'node_modules/tsx')) && !existsSync(join(app, 'node_modules/typescript')) && !existsSync(join(app, 'node_modules/esbuild')), `runtime node_modules: ${new Set(prodPaths).size} production packages, no tsx/typescript/esbuild`);

// The host's CA (never copied into the container) and certs-init's install of the four server files.
const hostCa = join(work, 'host-certs');
const cli = (...a) => run(process.execPath, [join(app, 'bin/securechat.js'), ...a], { cwd: work });
cli('ca', 'init', '--dir', hostCa, '--no-passphrase');
cli('ca', 'issue', 'server', 'localhost', '--dir', hostCa, '--out', join(hostCa, 'server_cert.pem'), '--key-out', join(hostCa, 'server_key.pem'));
const certs = join(app, 'certs');
mkdirSync(certs, { recursive: true });
const UID = 10001;
const asRoot = process.getuid?.() === 0;
for (const [f, mode] of [['root_ca.pem', 0o444], ['crl.pem', 0o444], ['server_cert.pem', 0o444], ['server_key.pem', 0o400]]) {
  copyFileSync(join(hostCa, f), join(certs, f));
  chmodSync(join(certs, f), mode);
  if (asRoot) chownSync(join(certs, f), UID, UID);
}
expect(!run('ls', [certs]).match(/_ca_key|intermediate/), `/app/certs holds only ${run('ls', [certs]).split('\n').filter(Boolean).join(', ')}`);
mkdirSync(join(app, 'data'));
if (asRoot) chownSync(join(app, 'data'), UID, UID);

// The database: MariaDB on 127.0.0.1 stands in for the mysql service; the password comes from a secret file.
const secrets = join(work, 'run-secrets');
mkdirSync(secrets, { mode: 0o755 });
const password = `dc-${Math.random().toString(36).slice(2)}-${Date.now()}`;
writeFileSync(join(secrets, 'db_password'), `${password}\n`, { mode: 0o400 });
if (asRoot) chownSync(join(secrets, 'db_password'), UID, UID);
let dbUrl;
try {
  run('mysql', ['-uroot', '-h127.0.0.1', '-e', `CREATE DATABASE IF NOT EXISTS securechat_dockercheck; CREATE USER IF NOT EXISTS 'sc_dockercheck'@'%'; ALTER USER 'sc_dockercheck'@'%' IDENTIFIED BY '${password}'; GRANT ALL ON securechat_dockercheck.* TO 'sc_dockercheck'@'%';`]);
  dbUrl = 'mysql://sc_dockercheck@127.0.0.1:3306/securechat_dockercheck';
  ok('MariaDB on 127.0.0.1:3306 stands in for the mysql service (user with a password)');
} catch {
  console.log('note  no MariaDB reachable: the start-up check uses SQLite in /app/data instead of MySQL');
}

// The container's process: Dockerfile ENV, then the compose service's environment, mapped to this layout.
const mapPath = (v) => v.replace(/^\/run\/secrets\//, `${secrets}/`).replace(/^\/app\//, `${app}/`);
const serviceEnv = Object.fromEntries(Object.entries(server.environment ?? {}).map(([k, v]) => [k, mapPath(String(v))]));
if (dbUrl) serviceEnv.SECURECHAT_DB = dbUrl;
else {
  delete serviceEnv.SECURECHAT_DB;
  delete serviceEnv.SECURECHAT_DB_PASSWORD_FILE;
}
// Port 0 for both listeners: this machine's 5000/9090 may be taken; the server logs what it got.
const argv = [...entrypoint.slice(1), ...cmd].map((a) => (a === '/app/certs' ? certs : a === '5000' ? '0' : a));
const childEnv = { PATH: process.env.PATH, HOME: app, HOSTNAME: 'securechat-container', ...env, ...serviceEnv, SECURECHAT_ADMIN_PORT: '0' };
const launcher = asRoot ? ['setpriv', ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', process.execPath, ...argv]] : [process.execPath, argv];
child = spawn(launcher[0], launcher[1], { cwd: app, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
child.stdout.on('data', (d) => (stdout += d));
child.stderr.on('data', (d) => (stderr += d));
const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
const deadline = Date.now() + 90_000;
let port;
let adminPort;
while (Date.now() < deadline && child.exitCode === null) {
  port = /"listening on [^"\s]+:(\d+)"/.exec(stdout)?.[1];
  adminPort = /admin listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)?.[1];
  if (port && adminPort) break;
  await new Promise((r) => setTimeout(r, 250));
}
expect(Boolean(port && adminPort), `started as uid ${asRoot ? UID : process.getuid?.()} from the image's command: chat port ${port}, admin ${adminPort}${port ? '' : `\n${stdout}${stderr}`}`);
if (port && adminPort) {
  // The HEALTHCHECK command, as the engine runs it inside the container.
  const health = last('HEALTHCHECK').args.replace(/^.*?CMD\s+/, '');
  const hc = JSON.parse(health).map((a) => (a === '9090' ? adminPort : a));
  let healthy = false;
  for (let i = 0; i < 40 && !healthy; i++) {
    try {
      execFileSync(asRoot ? 'setpriv' : hc[0], asRoot ? ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', process.execPath, ...hc.slice(1)] : hc.slice(1), { cwd: app, env: childEnv, stdio: 'ignore' });
      healthy = true;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  expect(healthy, `HEALTHCHECK (${hc.join(' ')}) exits 0`);
}
child.kill('SIGTERM');
const end = await Promise.race([exited, new Promise((r) => setTimeout(() => r({ code: 'timeout' }), 30_000))]);
expect(end.code === 0, `SIGTERM: clean exit (${JSON.stringify(end)})`);
const lines = stdout.split('\n').filter(Boolean);
const parsed = lines.map((l) => {
  try {
    return JSON.parse(l);
  } catch {
    return undefined;
  }
});
expect(lines.length > 0 && parsed.every((p) => p && typeof p.pid === 'number' && p.hostname), `docker logs view: ${lines.length} stdout lines, each JSON with pid and hostname`);
expect(!(stdout + stderr).includes('\u001b['), 'no colour codes (NO_COLOR, not a terminal)');
expect(!/tsx/.test(stdout + stderr), 'nothing mentions tsx');
expect(!/NOT encrypted|development CA/.test(stdout), 'no development-CA warning: the container holds no CA key');
expect(/SIGTERM received/.test(stdout), 'graceful shutdown logged');
if (dbUrl) expect(/"storage: mysql:\/\/sc_dockercheck[^"]*@127\.0\.0\.1:3306\/securechat_dockercheck"/.test(stdout), 'served from MySQL, the password read from the secret file');
expect(!(stdout + stderr).includes(password), 'the database password appears in no log line');
finish();

function finish() {
  console.log(failures === 0 ? '\ndocker-check: ok' : `\ndocker-check: ${failures} check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
}
