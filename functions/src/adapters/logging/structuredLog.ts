/**
 * Structured log lines in the shape Cloud Logging reads from a function's stdout: `severity`, `message`,
 * `logging.googleapis.com/labels` and `logging.googleapis.com/trace`. Operational lines never carry clinical
 * text, model outputs or raw idempotency keys: callers pass ids and counts only.
 */

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';
export type LineWriter = (line: string) => void;

export const stdoutWriter: LineWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

export type Logger = {
  log(severity: Severity, message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
};

export function createLogger(component: string, write: LineWriter = stdoutWriter): Logger {
  const log = (severity: Severity, message: string, fields: Record<string, unknown> = {}) => {
    write(JSON.stringify({ severity, message, component, ...fields, time: new Date().toISOString() }));
  };
  return {
    log,
    info: (m, f) => log('INFO', m, f),
    warn: (m, f) => log('WARNING', m, f),
    error: (m, f) => log('ERROR', m, f),
  };
}

/** The trace id of a request, from Cloud's `X-Cloud-Trace-Context` or W3C `traceparent`. */
export function traceIdOf(headers: Record<string, string | string[] | undefined>): string | null {
  const cloud = headers['x-cloud-trace-context'];
  const fromCloud = typeof cloud === 'string' ? /^([0-9a-f]{32})/i.exec(cloud)?.[1] : undefined;
  if (fromCloud) return fromCloud.toLowerCase();
  const parent = headers.traceparent;
  const fromW3c = typeof parent === 'string' ? /^[0-9a-f]{2}-([0-9a-f]{32})-/i.exec(parent)?.[1] : undefined;
  return fromW3c?.toLowerCase() ?? null;
}
