import { parseArgs } from 'node:util';
import { startModelServer } from './modelServer.js';

/**
 * Starts one local model server:
 *
 *   tsx functions/dev/modelServer/main.ts --name local-a --port 8090 [--host 127.0.0.1]
 *
 * Prints one JSON log line once listening and exits cleanly on SIGINT or SIGTERM (a second signal exits at
 * once). Exit code 2 for bad arguments, 1 when it cannot listen.
 */

const usage = 'usage: main.ts --name <name> --port <0-65535> [--host <address>]';

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parseOptions(): { name: string; port: number; host: string } {
  let values: { name?: string | undefined; port?: string | undefined; host?: string | undefined };
  try {
    ({ values } = parseArgs({
      options: { name: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
      strict: true,
    }));
  } catch (e) {
    fail(`${e instanceof Error ? e.message : String(e)}\n${usage}`, 2);
  }
  const port = Number(values.port);
  if (!values.name || !/^\d+$/.test(values.port ?? '') || port > 65_535) fail(usage, 2);
  return { name: values.name, port, host: values.host ?? '127.0.0.1' };
}

const log = (severity: 'INFO' | 'ERROR', message: string, labels: Record<string, string>): void => {
  process.stdout.write(`${JSON.stringify({ severity, message, 'logging.googleapis.com/labels': labels })}\n`);
};

const options = parseOptions();
const labels = { component: 'model-server', name: options.name };
let server: Awaited<ReturnType<typeof startModelServer>>;
try {
  server = await startModelServer(options);
} catch (e) {
  log(
    'ERROR',
    `${options.name} cannot listen on ${options.host}:${options.port}: ${(e as Error).message}`,
    labels,
  );
  process.exit(1);
}
log('INFO', `${options.name} listening on ${server.url}`, labels);

let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(1);
  stopping = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
