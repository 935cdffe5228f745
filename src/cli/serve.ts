/** `securechat serve`: parses flags and runs the server until SIGINT/SIGTERM; SIGHUP reloads certificates, CRL and log file. */
import type { Command } from 'commander';
import { resolveConfig } from '../config.js';
import { createLogger } from '../log.js';
import { withDbPassword } from '../server/db-target.js';
import { startServer } from '../server/start.js';
import { DB_PASSWORD_FILE_HELP } from './db.js';
import { action } from './run.js';

interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  certs?: string;
  db?: string;
  dbPasswordFile?: string;
  logFile?: string;
  logLevel?: string;
  maxFileBytes?: string;
  generate?: boolean;
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
    .option('--log-file <file>', 'JSON-lines log file (default logs/securechat.log)')
    .option('--log-level <level>', 'error | warn | info | debug')
    .option('--max-file-bytes <n>', 'largest file a user may send (default 10485760)')
    .option('--no-generate', 'fail instead of generating a CA when --certs has none')
    .addHelpText(
      'after',
      `
Examples:
  $ securechat serve                                   # SQLite in data/, certs/ generated on first run
  $ securechat serve --port 6000 --db mysql://chat@127.0.0.1:3306/securechat --db-password-file /etc/securechat/db.pass
  $ SECURECHAT_PORT=6000 securechat serve --config /etc/securechat.jsonc`,
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
            maxFileBytes: flags.maxFileBytes,
            ...(flags.generate === false ? { autoGenerateCerts: false } : {}),
          },
        });
        config.db = withDbPassword(config.db, flags.dbPasswordFile || process.env.SECURECHAT_DB_PASSWORD_FILE || undefined);
        const log = createLogger({ level: config.logLevel, file: config.logFile });
        // Log rotation and certificate renewal without a restart; whatever fails to load keeps the old.
        // Installed before start-up, so an early SIGHUP (logrotate racing a restart) cannot kill the process.
        let reload: (() => void) | null = null;
        process.on('SIGHUP', () => {
          if (!reload) return log.warn('SIGHUP during start-up ignored: nothing to reload yet');
          reload();
        });
        const running = await startServer(config, log);
        reload = () => {
          log.info('SIGHUP received: reloading the CRL, the server certificate and key, and the log file');
          log.info('reload done', running.reload());
        };
        log.info(`SecureChat server ready on ${running.host}:${running.port} — stop with Ctrl-C`);
        await new Promise<void>((resolve) => {
          const shutdown = (signal: string): void => {
            log.info(`${signal} received: shutting down (finishing in-flight writes)`);
            running.stop().then(resolve, (err: unknown) => {
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
