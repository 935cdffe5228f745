/** `securechat serve`: parses flags and runs the server until SIGINT/SIGTERM; SIGHUP reloads certificates, CRL and log file. */
import type { Command } from 'commander';
import { resolveConfig } from '../config.js';
import { createLogger, type LogFormat } from '../log.js';
import { crlSecondsToExpiry } from '../server/crl-status.js';
import { ServerMetrics } from '../server/metrics.js';
import { startServer } from '../server/start.js';
import { checkConfig, formatCheck } from './check-config.js';
import { packageVersion } from './version.js';
import { withDbPassword } from '../server/db-target.js';
import { DB_PASSWORD_FILE_HELP } from './db.js';
import { action } from './run.js';
import { startServeAdmin } from './serve-admin.js';

interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  certs?: string;
  db?: string;
  dbPasswordFile?: string;
  logFile?: string;
  logLevel?: string;
  logFormat?: string;
  adminPort?: string;
  adminHost?: string;
  wsPort?: string;
  wsBehindProxy?: boolean;
  enrolment?: boolean;
  caPassphraseFile?: string;
  maxFileBytes?: string;
  generate?: boolean;
  checkConfig?: boolean;
  cluster?: string;
  nodeId?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the chat server (generates certificates into --certs on first run).')
    .option('--config <file>', 'JSON config file (see docs/securechat.config.example.jsonc)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'TCP port (default 5000)')
    .option('--certs <dir>', 'CA directory with root_ca.pem, crl.pem, server_cert.pem, server_key.pem (default certs)')
    .option('--db <url>', 'sqlite:PATH or mysql://user@host:port/db (default sqlite:data/securechat.db; env SECURECHAT_DB)')
    .option('--db-password-file <file>', DB_PASSWORD_FILE_HELP)
    .option('--log-file <file>', 'JSON-lines log file, or "off" (default logs/securechat.log)')
    .option('--log-level <level>', 'error | warn | info | debug')
    .option('--log-format <format>', 'console logs: auto (JSON lines unless stdout is a terminal) | json | text')
    .option('--admin-port <port>', 'admin HTTP listener with /healthz and /metrics (off unless set; 0 = a free port)')
    .option('--admin-host <host>', 'address of the admin listener (default 127.0.0.1; it has no authentication)')
    .option('--ws-port <port>', 'WebSocket listener serving the web client over HTTPS with the server certificate (off unless set; docs/WEB.md)')
    .option('--ws-behind-proxy', 'plain HTTP on --ws-port, for a TLS-terminating reverse proxy (client address from X-Forwarded-For)')
    .option('--enrolment', 'sign client CSRs posted to /api/enrol on --ws-port against one-time tokens (`securechat ca enrol-token`); needs the issuing CA key in --certs')
    .option('--ca-passphrase-file <file>', 'file whose first line decrypts that CA key (env SECURECHAT_CA_PASSPHRASE_FILE; never the passphrase itself)')
    .option('--check-config', 'validate the configuration and the certificates it names, then exit 0 (ok) or 2')
    .option('--max-file-bytes <n>', 'largest file a user may send (default 10485760)')
    .option('--no-generate', 'fail instead of generating a CA when --certs has none')
    .option('--cluster <bus>', 'join a cluster: redis://host:port or nats://host:port (needs --db mysql://…; default memory = single node; env SECURECHAT_CLUSTER)')
    .option('--node-id <name>', "this node's name in the cluster (default hostname-pid; env SECURECHAT_NODE_ID)")
    .addHelpText(
      'after',
      `
Examples:
  $ securechat serve                                   # SQLite in data/, certs/ generated on first run
  $ securechat serve --port 6000 --db mysql://chat@127.0.0.1:3306/securechat --db-password-file /etc/securechat/db.pass
  $ SECURECHAT_PORT=6000 securechat serve --config /etc/securechat.jsonc
  $ securechat serve --ws-port 5443                    # web client at https://HOST:5443/ (install root_ca.pem first)
  $ securechat serve --ws-port 5443 --enrolment --ca-passphrase-file /etc/securechat/ca.pass   # then: securechat ca enrol-token alice
  $ securechat serve --admin-port 9090                  # then: curl 127.0.0.1:9090/metrics, securechat status --admin-port 9090
  $ securechat serve --config /etc/securechat.jsonc --check-config
  $ securechat serve --db mysql://chat@db:3306/securechat --cluster redis://redis:6379 --node-id a   # one node of several (docs/CLUSTER.md)`,
    )
    .action(
      action(async (flags: ServeFlags) => {
        const config = resolveConfig({
          ...(flags.config ? { file: flags.config } : {}),
          flags: {
            host: flags.host,
            port: flags.port,
            certs: flags.certs,
            db: flags.db,
            logFile: flags.logFile,
            logLevel: flags.logLevel,
            logFormat: flags.logFormat,
            adminPort: flags.adminPort,
            adminHost: flags.adminHost,
            wsPort: flags.wsPort,
            ...(flags.wsBehindProxy ? { wsBehindProxy: true } : {}),
            ...(flags.enrolment ? { enrolment: true } : {}),
            caPassphraseFile: flags.caPassphraseFile,
            maxFileBytes: flags.maxFileBytes,
            cluster: flags.cluster,
            nodeId: flags.nodeId,
            ...(flags.generate === false ? { autoGenerateCerts: false } : {}),
          },
        });
        // SECURECHAT_DB_PASSWORD(_FILE) is already in config.db (resolveConfig); only the flag is left to apply.
        config.db = withDbPassword(config.db, flags.dbPasswordFile || undefined);
        if (flags.checkConfig) {
          const lines = checkConfig(config);
          process.stdout.write(formatCheck(lines) + '\n');
          process.exitCode = lines.every((l) => l.ok) ? 0 : 2;
          return;
        }
        const log = createLogger({ level: config.logLevel, format: config.logFormat as LogFormat, ...(config.logFile !== 'off' ? { file: config.logFile } : {}) });
        // Log rotation and certificate renewal without a restart; whatever fails to load keeps the old.
        // Installed before start-up, so an early SIGHUP (logrotate racing a restart) cannot kill the process.
        let reload: (() => void) | null = null;
        process.on('SIGHUP', () => {
          if (!reload) return log.warn('SIGHUP during start-up ignored: nothing to reload yet');
          reload();
        });
        // The CRL in force (what the validator uses), not a fresh read of the file on every scrape.
        const metrics = new ServerMetrics({ crlSecondsToExpiry: () => crlSecondsToExpiry(running.server) });
        const running = await startServer(config, log, { metrics });
        reload = () => {
          log.info('SIGHUP received: reloading the CRL, the server certificate and key, and the log file');
          log.info('reload done', running.reload());
        };
        const admin = await startServeAdmin(config, running, metrics, packageVersion(), log).catch(async (err: unknown) => {
          await running.stop();
          throw err;
        });
        log.info(`SecureChat ${packageVersion()} server ready on ${running.host}:${running.port}${running.ws ? `, web ${running.ws.url}` : ''} — stop with Ctrl-C`);
        await new Promise<void>((resolve) => {
          const shutdown = (signal: string): void => {
            log.info(`${signal} received: shutting down (finishing in-flight writes)`);
            Promise.all([admin?.close(), running.stop()]).then(() => resolve(), (err: unknown) => {
              log.error('shutdown failed', { error: String(err) });
              resolve();
            });
          };
          process.once('SIGINT', () => shutdown('SIGINT'));
          process.once('SIGTERM', () => shutdown('SIGTERM'));
        });
        log.info('stopped');
        await new Promise<void>((resolve) => log.on('finish', resolve).end());
      }),
    );
}
