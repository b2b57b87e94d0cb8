/**
 * Structured log lines in the shape Cloud Logging reads from a function's stdout: `severity`, `message`,
 * `time`, `logging.googleapis.com/labels` and, on a request's lines, `logging.googleapis.com/trace` and
 * `logging.googleapis.com/spanId`. The trace is the one the request's audit events carry (both take it from
 * `traceContextOf` here), so Logs Explorer and BigQuery join a request's operational lines to its audit
 * trail. Operational lines never carry clinical text, model outputs or raw idempotency keys: callers pass ids
 * and counts only.
 */

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';
export type LineWriter = (line: string) => void;
export type LogFields = Record<string, unknown>;

export const stdoutWriter: LineWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

export type Logger = {
  log(severity: Severity, message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
};

/** Request headers as Node gives them (lower-case names), or any object of that shape. */
export type TraceHeaders = Readonly<Record<string, string | string[] | undefined>>;

export type TraceContext = {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits, as Cloud Logging wants it; null when the header names no valid span. */
  spanId: string | null;
};

const CLOUD_TRACE = /^([0-9a-f]{32})(?:\/([^;]*))?(?:;|$)/i;
const DECIMAL_SPAN = /^[0-9]{1,20}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-|$)/i;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const MAX_SPAN = 2n ** 64n - 1n;

/** A trace as read from its header; the span is converted only when a line needs it. */
type ReadTrace = { traceId: string; span: string | null; spanIsDecimal: boolean };

/**
 * The trace of a request: Google's `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` (the span id in decimal)
 * first, as the audit trail has always read it, else W3C `traceparent: 00-TRACE_ID-SPAN_ID-FLAGS`. A header
 * that does not fit its format (wrong length, not hex, an all-zero id, version `ff`, a repeated header) is
 * ignored; a valid trace with a malformed span keeps its trace. Null when neither names a trace.
 */
export function traceContextOf(headers: TraceHeaders): TraceContext | null {
  const read = readTrace(headers);
  return read && { traceId: read.traceId, spanId: spanIdOf(read) };
}

function readTrace(headers: TraceHeaders): ReadTrace | null {
  const cloud = headers['x-cloud-trace-context'];
  const c = typeof cloud === 'string' ? CLOUD_TRACE.exec(cloud) : null;
  if (c && c[1]!.toLowerCase() !== ZERO_TRACE) {
    return { traceId: c[1]!.toLowerCase(), span: c[2] ?? null, spanIsDecimal: true };
  }
  const parent = headers.traceparent;
  const w = typeof parent === 'string' ? TRACEPARENT.exec(parent) : null;
  if (!w) return null;
  const [, version, traceId, spanId, rest] = w;
  // Version ff is forbidden; version 00 has exactly four fields (later versions may add more).
  if (version!.toLowerCase() === 'ff' || (version === '00' && rest === '-')) return null;
  if (traceId!.toLowerCase() === ZERO_TRACE) return null;
  return { traceId: traceId!.toLowerCase(), span: spanId!, spanIsDecimal: false };
}

/** Cloud Logging wants 16 lower-case hex digits; `X-Cloud-Trace-Context` gives an unsigned 64-bit decimal. */
function spanIdOf({ span, spanIsDecimal }: ReadTrace): string | null {
  if (!span) return null;
  if (!spanIsDecimal) return span.toLowerCase() === ZERO_SPAN ? null : span.toLowerCase();
  if (!DECIMAL_SPAN.test(span)) return null;
  const value = BigInt(span);
  if (value === 0n || value > MAX_SPAN) return null;
  return value.toString(16).padStart(16, '0');
}

/** The trace id of a request (see `traceContextOf`): what audit events record as `trace`. */
export function traceIdOf(headers: TraceHeaders): string | null {
  return traceContextOf(headers)?.traceId ?? null;
}

export type StructuredLoggerOptions = {
  /** The function the lines come from (`inferenceApi`, `reviewIntake`, …): the `service` label. */
  service: string;
  /** The Google Cloud project a trace id belongs to (`projects/<project>/traces/<id>`). */
  project: string;
  write?: LineWriter;
};

/**
 * A function's logger. Its own lines (start, background work) carry the `service` label; `forRequest` gives
 * the logger of one request, whose lines also carry the request's trace, span and tenant.
 */
export class StructuredLogger implements Logger {
  readonly service: string;
  readonly project: string;
  /** The labels of the function's own lines: `{ service }`. */
  readonly labels: Readonly<Record<string, string>>;
  private readonly write: LineWriter;

  constructor(options: StructuredLoggerOptions) {
    this.service = options.service;
    this.project = options.project;
    this.write = options.write ?? stdoutWriter;
    this.labels = Object.freeze({ service: options.service });
  }

  log(severity: Severity, message: string, fields?: LogFields): void {
    this.emit(severity, message, fields, this.labels, null, null);
  }
  info(message: string, fields?: LogFields): void {
    this.emit('INFO', message, fields, this.labels, null, null);
  }
  warn(message: string, fields?: LogFields): void {
    this.emit('WARNING', message, fields, this.labels, null, null);
  }
  error(message: string, fields?: LogFields): void {
    this.emit('ERROR', message, fields, this.labels, null, null);
  }

  /** The logger of one request (or one event delivery), whose trace the given headers carry. */
  forRequest(headers: TraceHeaders): RequestLogger {
    return new RequestLogger(this, headers);
  }

  /** One line. The special keys come last, so that no field can overwrite them. */
  emit(
    severity: Severity,
    message: string,
    fields: LogFields | undefined,
    labels: Readonly<Record<string, string>>,
    trace: string | null,
    spanId: string | null,
  ): void {
    const line: LogFields = { severity, message, component: this.service, ...fields };
    line.time = new Date().toISOString();
    line['logging.googleapis.com/labels'] = labels;
    if (trace) line['logging.googleapis.com/trace'] = `projects/${this.project}/traces/${trace}`;
    if (spanId) line['logging.googleapis.com/spanId'] = spanId;
    this.write(JSON.stringify(line));
  }
}

/**
 * The logger of one request: one small object, made when the request arrives. It reads the trace headers on
 * first use (the audit trail asks for the trace id; most requests write no line), its methods live on the
 * prototype, and its labels are built only when a line is written.
 */
export class RequestLogger implements Logger {
  /** The caller's tenant, once the request is authenticated: the `tenant` label, as audit events carry it. */
  tenant: string | null = null;
  private trace: ReadTrace | null | undefined;

  constructor(
    private readonly base: StructuredLogger,
    private readonly headers: TraceHeaders,
  ) {}

  /** The request's trace id: what its audit events record as `trace`, and its lines as their trace. */
  get traceId(): string | null {
    return this.context()?.traceId ?? null;
  }

  get spanId(): string | null {
    const trace = this.context();
    return trace && spanIdOf(trace);
  }

  log(severity: Severity, message: string, fields?: LogFields): void {
    const labels = this.tenant ? { service: this.base.service, tenant: this.tenant } : this.base.labels;
    const trace = this.context();
    this.base.emit(severity, message, fields, labels, trace?.traceId ?? null, trace && spanIdOf(trace));
  }
  info(message: string, fields?: LogFields): void {
    this.log('INFO', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.log('WARNING', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.log('ERROR', message, fields);
  }

  private context(): ReadTrace | null {
    if (this.trace === undefined) this.trace = readTrace(this.headers);
    return this.trace;
  }
}

/** A function's logger (the gateway builds its own with the configured project; this is for tools and tests). */
export function createLogger(
  service: string,
  write: LineWriter = stdoutWriter,
  project = 'local',
): StructuredLogger {
  return new StructuredLogger({ service, project, write });
}
