import { hash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Behaviour,
  behaviourPatchSchema,
  defaultBehaviour,
  FailureSchedule,
  type Fault,
} from './behaviour.js';
import { type ChatCompletion, completeChat, completionIdentity } from './chatCompletion.js';

/**
 * A local, deterministic stand-in for an OpenAI-compatible model, for development and tests (see "Local model
 * servers" in the HTTP contract):
 *
 *   POST /v1/chat/completions   the task named by the system message, run on the user message
 *   GET|PUT /admin/behaviour    failure rate and status, latency, pinned confidence, fault mode
 *   GET /admin/stats            { requests, failures } since start or reset
 *   POST /admin/reset           default behaviour, counters to zero
 *   GET /healthz                { status: "ok", name }
 *
 * Each call starts an independent server with its own behaviour and counters, so a test can run several.
 */

export type ModelServerOptions = { name: string; port: number; host?: string };
export type ModelServer = { url: string; port: number; close(): Promise<void> };

/** A 100,000-character note is at most ~400 KB as escaped JSON; this leaves room without inviting abuse. */
const MAX_CHAT_BODY_BYTES = 4 * 1024 * 1024;
const MAX_ADMIN_BODY_BYTES = 64 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export async function startModelServer(opts: ModelServerOptions): Promise<ModelServer> {
  const host = opts.host ?? '127.0.0.1';
  let behaviour: Behaviour = { ...defaultBehaviour };
  const failures = new FailureSchedule();
  const stats = { requests: 0, failures: 0 };
  /**
   * An answer depends only on the request and the pinned confidence, apart from its `id` and `created`: the
   * answers to the latest distinct requests are kept as JSON text (everything after `created`), so that a
   * load test's repeated requests cost this server an HTTP exchange, not a new completion. Load benchmarks
   * run it on the machine of the gateway they measure, where a real provider's work would be elsewhere.
   * Keyed by a hash of the request, not the request itself: a body may be megabytes.
   */
  const answers = new Map<string, string>();

  const chatCompletions: Handler = async (req, res) => {
    const body = await readBody(req, MAX_CHAT_BODY_BYTES);
    if (body === 'aborted') return;
    // Counted and scheduled on arrival, with the behaviour of that moment, so that a failure pattern does not
    // depend on how long the answers take.
    const current = behaviour;
    stats.requests++;
    const scheduled = failures.next();
    // A fault hits the failing share of calls, or every call when no failure rate is set.
    const fault = current.fault !== null && (scheduled || current.failRate === 0) ? current.fault : null;
    if (scheduled || fault) stats.failures++;
    if (fault === 'hang') return void (await delay(Number.POSITIVE_INFINITY, res));
    if (current.latencyMs > 0 && !(await delay(current.latencyMs, res))) return;

    if (scheduled && !fault) return sendInjectedFailure(res, current.failStatus);
    if (body === 'too_large') return sendError(res, 413, 'Request body too large.');
    const key = `${current.confidence}\n${hash('sha256', body, 'base64url')}`;
    const known = fault ? undefined : answers.get(key);
    if (known !== undefined) return sendJsonText(res, 200, withFreshId(known));
    const json = parseJson(body);
    if (json === undefined) return sendError(res, 400, 'The request body is not valid JSON.');
    const outcome = completeChat(json, current.confidence);
    if (!outcome.ok) return sendError(res, 400, outcome.message);
    if (fault) return sendFault(res, fault, outcome.completion);
    const { id: _id, object: _object, created: _created, ...rest } = outcome.completion;
    const tail = JSON.stringify(rest).slice(1);
    answers.set(key, tail);
    if (answers.size > REMEMBERED_ANSWERS) answers.delete(answers.keys().next().value!);
    sendJsonText(res, 200, withFreshId(tail));
  };

  const putBehaviour: Handler = async (req, res) => {
    const body = await readBody(req, MAX_ADMIN_BODY_BYTES);
    if (body === 'aborted') return;
    if (body === 'too_large') return sendError(res, 413, 'Request body too large.');
    const patch = behaviourPatchSchema.safeParse(parseJson(body));
    if (!patch.success) {
      const problems = patch.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
      return sendError(res, 400, `Invalid behaviour: ${problems.join('; ')}`);
    }
    behaviour = { ...behaviour, ...patch.data };
    if (patch.data.failRate !== undefined) failures.setRate(patch.data.failRate);
    sendNoContent(res);
  };

  const reset: Handler = async (req, res) => {
    if ((await readBody(req, MAX_ADMIN_BODY_BYTES)) === 'aborted') return;
    behaviour = { ...defaultBehaviour };
    failures.setRate(0);
    stats.requests = 0;
    stats.failures = 0;
    sendNoContent(res);
  };

  const routes: Record<string, Record<string, Handler>> = {
    '/v1/chat/completions': { POST: chatCompletions },
    '/admin/behaviour': { GET: (_req, res) => sendJson(res, 200, behaviour), PUT: putBehaviour },
    '/admin/stats': { GET: (_req, res) => sendJson(res, 200, { ...stats }) },
    '/admin/reset': { POST: reset },
    '/healthz': { GET: (_req, res) => sendJson(res, 200, { status: 'ok', name: opts.name }) },
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const methods = Object.hasOwn(routes, path) ? routes[path] : undefined;
    const handler = methods && Object.hasOwn(methods, req.method ?? '') ? methods[req.method!] : undefined;
    if (!methods) return sendError(res, 404, `No route for ${req.method} ${path.slice(0, 200)}.`);
    if (!handler) {
      return sendError(res, 405, `${req.method} is not allowed here.`, {
        allow: Object.keys(methods).join(', '),
      });
    }
    // Handlers do not throw on any input; this is the last guard so that a bug answers 500 instead of
    // killing the server under every other test.
    Promise.resolve()
      .then(() => handler(req, res))
      .catch(() => {
        if (!res.headersSent) sendError(res, 500, 'Internal error in the local model server.');
        else res.destroy();
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Also ends keep-alive and delayed connections, whose pending latency timers are cleared on close.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** The address a client uses: a wildcard bind is reached on loopback; IPv6 literals need brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** The body as text (invalid UTF-8 becomes U+FFFD), or why there is none. Oversized bodies are drained. */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | 'too_large' | 'aborted'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    }
  } catch {
    return 'aborted';
  }
  return size > maxBytes ? 'too_large' : Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Waits `ms` (forever if infinite), or until the client goes away (false: nobody is left to answer). The timer
 * is unref'd and cleared on disconnect, so a slow answer never holds the process or the server's close open.
 */
function delay(ms: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = Number.isFinite(ms)
      ? setTimeout(() => {
          res.off('close', onClose);
          resolve(true);
        }, ms)
      : undefined;
    timer?.unref();
    res.once('close', onClose);
  });
}

/** What each fault mode answers instead of the real completion (see behaviour.ts): always a 200. */
function sendFault(res: ServerResponse, fault: Exclude<Fault, 'hang'>, completion: ChatCompletion): void {
  const withContent = (content: string): string =>
    JSON.stringify({
      ...completion,
      choices: [{ ...completion.choices[0], message: { role: 'assistant', content }, logprobs: null }],
    });
  const bodies: Record<typeof fault, () => string> = {
    html: () =>
      '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>',
    'empty-choices': () => JSON.stringify({ ...completion, choices: [] }),
    prose: () => withContent('Here is what I found in the note: the medications are listed above.'),
    'wrong-schema': () => withContent(JSON.stringify({ result: 'ok', items: [{ text: 'none' }] })),
    // A trailing comma: what a hand-rolled serialiser gets wrong.
    'invalid-json': () => `${JSON.stringify(completion).slice(0, -1)},}`,
    truncated: () => JSON.stringify(completion),
  };
  const text = bodies[fault]();
  res.writeHead(200, {
    'content-type': fault === 'html' ? 'text/html; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  if (fault !== 'truncated') {
    res.end(text);
    return;
  }
  // Promises the whole body, sends half of it, then drops the connection.
  res.write(text.slice(0, Math.floor(text.length / 2)));
  setImmediate(() => res.destroy());
}

/** How many distinct requests' answers a server keeps (oldest dropped first). */
const REMEMBERED_ANSWERS = 256;

/** A completion's JSON text from the part after `created`, with a new `id` and `created`, as `completeChat` makes them. */
function withFreshId(tail: string): string {
  const { id, object, created } = completionIdentity();
  return `{"id":${JSON.stringify(id)},"object":${JSON.stringify(object)},"created":${created},${tail}`;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/** OpenAI's error shape, so that the SDK on the other side classifies our errors like real ones. */
function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  sendJson(res, status, { error: { message, type, param: null, code: null } }, headers);
}

function sendInjectedFailure(res: ServerResponse, status: number): void {
  // A throttling or overloaded provider says when to come back; clients and breakers read it.
  const retryAfter: Record<string, string> = status === 429 || status === 503 ? { 'retry-after': '1' } : {};
  sendError(res, status, `Injected failure (failRate) with status ${status}.`, retryAfter);
}
