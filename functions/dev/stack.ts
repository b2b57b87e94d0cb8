/**
 * The local stack that `npm start` runs (after `npm run build` has compiled functions/src to functions/lib):
 *
 *   Firestore emulator, Pub/Sub emulator      Java, each in its own process group       (emulators.ts)
 *   model servers local-a and local-b         in this process                           (modelServer/)
 *   inferenceApi, reviewerApi, reviewJobs,    Functions Framework child processes
 *   reviewIntake functions
 *   extra parts                               see `extraParts` below
 *
 * It waits until every part answers, prints where each one is, and stops everything in reverse order on
 * Ctrl-C / SIGTERM (exit 0), or when any part dies unexpectedly (exit 1). A function that crashes is not
 * such a death: it is restarted, as Cloud Run replaces an instance (`FUNCTION_RESTART`), unless it is in a
 * crash loop. Ports come from the environment
 * (see `PORT_SETTINGS`): an explicitly set port must be free, a default port that is busy is replaced by a
 * free one, and `0` means any free port.
 *
 * `startStack()` is exported for tests and benchmarks that need the whole stack in one call.
 */
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { apiReferencePart } from './docsServer.js';
import {
  PROJECT_ROOT,
  type RunningEmulator,
  startFirestoreEmulator,
  startPubsubEmulator,
} from './emulators.js';
import { startModelServer } from './modelServer/modelServer.js';
import { type GroupProcess, pickPort, spawnGroup, superviseGroup, waitForHttp } from './processes.js';
import { reviewPipelineParts } from './reviewPipeline.js';

/** The environment handed to the functions and to extra parts. */
export type StackEnv = Readonly<Record<string, string | undefined>>;

/**
 * Extension point: something more the local stack runs once the functions answer, stopped before them.
 * `start` receives the functions' environment (emulator hosts, project, model URLs) plus
 * `INFERENCE_API_URL`, `REVIEWER_API_URL` and `REVIEW_INTAKE_URL`, and resolves once the part works. A part that can die on its
 * own should report it through `exited` (resolving with a description), so the stack stops with it.
 */
export interface ExtraPart {
  name: string;
  start(env: StackEnv): Promise<ExtraPartHandle>;
}

export interface ExtraPartHandle {
  /** Shown in the table printed at startup, e.g. a URL or a subscription name. */
  address?: string;
  /** Resolves (with a description) if the part stops working on its own; never resolves otherwise. */
  exited?: Promise<string>;
  stop(): Promise<void>;
}

/**
 * Extra parts of the local stack, started in this order after the functions (see reviewPipeline.ts):
 * - the review topics and the push subscription that delivers review requests to the reviewIntake function
 *   in the Pub/Sub emulator (as Pub/Sub push delivery does in production);
 * - the local scheduler that stands in for Cloud Tasks / Cloud Scheduler (review deadline checks, callback
 *   retries, the outbox sweep) by calling the functions' task endpoints on time;
 * - the API reference at `/docs` (docsServer.ts), rendering the inference function's `/openapi.json`.
 * Add an `ExtraPart` here; nothing else in this file needs to change.
 */
export const extraParts: readonly ExtraPart[] = [...reviewPipelineParts, apiReferencePart];

/** Port settings read from the environment, with their defaults. */
export const PORT_SETTINGS = {
  INFERENCE_PORT: 8080,
  REVIEWER_PORT: 8081,
  REVIEW_JOBS_PORT: 8082,
  REVIEW_INTAKE_PORT: 8083,
  LOCAL_A_PORT: 8090,
  LOCAL_B_PORT: 8091,
  FIRESTORE_EMULATOR_PORT: 8180,
  PUBSUB_EMULATOR_PORT: 8185,
} as const;
type PortSetting = keyof typeof PORT_SETTINGS;

/** Every port setting at `0` (any free port): for tests and benchmarks that run beside `npm start`. */
export const anyFreePorts = (): Record<PortSetting, string> =>
  Object.fromEntries(Object.keys(PORT_SETTINGS).map((setting) => [setting, '0'])) as Record<
    PortSetting,
    string
  >;

const DEFAULT_PROJECT_ID = 'demo-clinical-gateway';
const READY_TIMEOUT_MS = 60_000;
const FUNCTIONS_FRAMEWORK_MAIN = path.join(
  PROJECT_ROOT,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);
const FUNCTIONS_ENTRY = path.join(PROJECT_ROOT, 'functions/lib/index.js');

/**
 * How each function runs, as Terraform sets it for the deployed ones (terraform/functions.tf,
 * `runtime_environment`, for their 512 MiB): V8's old generation capped at 192 MiB, AsyncLocalStorage without
 * async hooks, two malloc arenas, the Firestore SDK's span bookkeeping off. Without the cap V8 sizes its heap
 * for this machine rather than for the instance, and a local run would show a memory footprint the deployed
 * function never has. NODE_OPTIONS set by the caller come after these, so a benchmark can try other flags;
 * the other settings, when set, replace these.
 */
const FUNCTION_NODE_OPTIONS = '--max-old-space-size=192 --experimental-async-context-frame';
const FUNCTION_RUNTIME = { MALLOC_ARENA_MAX: '2', FIRESTORE_ENABLE_TRACING: 'off' } as const;

/** HTTP functions are ready when `/healthz` answers 200. */
const HEALTHY = { kind: 'healthz' } as const;

const FUNCTIONS = [
  {
    name: 'inference-api',
    title: 'inference API',
    target: 'inferenceApi',
    portSetting: 'INFERENCE_PORT',
    ready: HEALTHY,
  },
  {
    name: 'reviewer-api',
    title: 'reviewer API',
    target: 'reviewerApi',
    portSetting: 'REVIEWER_PORT',
    ready: HEALTHY,
  },
  {
    name: 'review-jobs',
    title: 'review jobs',
    target: 'reviewJobs',
    portSetting: 'REVIEW_JOBS_PORT',
    ready: HEALTHY,
  },
  {
    name: 'review-intake',
    title: 'review intake',
    target: 'reviewIntake',
    portSetting: 'REVIEW_INTAKE_PORT',
    // A CloudEvent function has no health route (every POST is an event): it is ready once the framework
    // listens, which it does only after functions/lib/index.js loaded (a bad config ends the process).
    ready: { kind: 'listening' },
  },
] as const;

/** A bad setting or missing build; the message names the variable or the command to run. */
export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
}

export function isStackConfigError(error: unknown): error is StackConfigError {
  return error instanceof StackConfigError;
}

export interface StackOptions {
  /** Settings and the base of the children's environment. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  extraParts?: readonly ExtraPart[];
  /** Receives the stack's own messages and every child's output line, already prefixed. */
  log?: (line: string) => void;
  /** Aborting stops whatever has started and rejects `startStack` with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Writes each function's output to `<dir>/<function>.log` instead of handing its lines to `log`. Benchmarks
   * use it: a function's stdout is a pipe, and a busy reader at the other end would slow the function down.
   */
  functionLogDir?: string;
}

export interface StackPartInfo {
  name: string;
  address: string;
  /**
   * The process id of a function (its process group's leader), for benchmarks that read /proc. A crashed
   * function is replaced by a new process: read it again after a restart.
   */
  readonly pid?: number;
  /** How many times a crashed function was replaced. */
  readonly restarts?: number;
}

export interface RunningStack {
  /** What runs where: the functions first, then the model servers, the emulators and the extra parts. */
  parts: readonly StackPartInfo[];
  /** The environment the functions run with. */
  env: StackEnv;
  /** Resolves with a description when a part dies unexpectedly; never resolves otherwise. */
  failure: Promise<string>;
  /** Stops every part, newest layer first. Safe to call more than once. */
  stop(): Promise<void>;
}

interface Part {
  info: StackPartInfo;
  /** Resolves with a description if the part dies on its own. */
  exited?: Promise<string>;
  stop(): Promise<void>;
}

/**
 * Brings the whole stack up and resolves once every part answers. On failure (or abort), stops what had
 * started and rejects.
 */
export async function startStack(options: StackOptions = {}): Promise<RunningStack> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.log(line));
  const signal = options.signal;
  const ports = await choosePorts(env);
  if (!existsSync(FUNCTIONS_ENTRY)) {
    throw new StackConfigError(
      `${path.relative(PROJECT_ROOT, FUNCTIONS_ENTRY)} not found: run \`npm run build\` first (\`npm start\` does)`,
    );
  }
  const projectId = env.GOOGLE_CLOUD_PROJECT || DEFAULT_PROJECT_ID;

  /** Parts grouped by start step; stopped last step first. */
  const layers: Part[][] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopping ??= (async () => {
      for (const layer of layers.reverse()) await Promise.allSettled(layer.map((part) => part.stop()));
    })();
    return stopping;
  };

  /** Starts a layer; if any of its parts fails to start, the others that did are kept for `stopAll`. */
  const startLayer = async (starts: Promise<Part>[]): Promise<Part[]> => {
    const results = await Promise.allSettled(starts);
    const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    layers.push(started);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    signal?.throwIfAborted();
    return started;
  };

  try {
    signal?.throwIfAborted();
    log(`[stack] starting the emulators (logs in ${path.relative(PROJECT_ROOT, emulatorLogDir())}/)`);
    const [firestore, pubsub] = await startLayer([
      startFirestoreEmulator({ port: ports.FIRESTORE_EMULATOR_PORT, projectId }).then(emulatorPart),
      startPubsubEmulator({ port: ports.PUBSUB_EMULATOR_PORT, projectId }).then(emulatorPart),
    ]);

    const [localA, localB] = await startLayer(
      (['local-a', 'local-b'] as const).map(async (name) => {
        const port = name === 'local-a' ? ports.LOCAL_A_PORT : ports.LOCAL_B_PORT;
        const server = await startModelServer({ name, port, host: '127.0.0.1' });
        return { info: { name: `model ${name}`, address: server.url }, stop: () => server.close() };
      }),
    );

    const functionEnv: StackEnv = {
      ...env,
      GATEWAY_ENV: 'local',
      GOOGLE_CLOUD_PROJECT: projectId,
      FIRESTORE_EMULATOR_HOST: firestore!.info.address,
      PUBSUB_EMULATOR_HOST: pubsub!.info.address,
      LOCAL_A_URL: `${localA!.info.address}/v1`,
      LOCAL_B_URL: `${localB!.info.address}/v1`,
      // Where deadline checks are sent (the local scheduler calls it; Cloud Tasks in production).
      REVIEW_JOBS_URL: env.REVIEW_JOBS_URL || `http://127.0.0.1:${ports.REVIEW_JOBS_PORT}`,
      AUDIT_LOG_FILE: env.AUDIT_LOG_FILE || path.join(PROJECT_ROOT, '.data', 'audit.jsonl'),
      // No metadata server exists locally; without this the Google SDKs probe for one (about a second, and a
      // MetadataLookupWarning) before their first call to an emulator.
      METADATA_SERVER_DETECTION: env.METADATA_SERVER_DETECTION || 'none',
      NODE_OPTIONS: [FUNCTION_NODE_OPTIONS, env.NODE_OPTIONS].filter(Boolean).join(' '),
      MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || FUNCTION_RUNTIME.MALLOC_ARENA_MAX,
      FIRESTORE_ENABLE_TRACING: env.FIRESTORE_ENABLE_TRACING || FUNCTION_RUNTIME.FIRESTORE_ENABLE_TRACING,
    };
    mkdirSync(path.dirname(functionEnv.AUDIT_LOG_FILE!), { recursive: true });

    log('[stack] starting the functions');
    const functions = await startLayer(
      FUNCTIONS.map((fn) =>
        startFunction(fn, ports[fn.portSetting], functionEnv, log, signal, options.functionLogDir),
      ),
    );

    const extraEnv: StackEnv = {
      ...functionEnv,
      INFERENCE_API_URL: functions[0]!.info.address,
      REVIEWER_API_URL: functions[1]!.info.address,
      REVIEW_INTAKE_URL: functions[3]!.info.address,
    };
    const extras: Part[] = [];
    for (const extra of options.extraParts ?? extraParts) {
      log(`[stack] starting ${extra.name}`);
      const [started] = await startLayer([
        extra.start(extraEnv).then((handle) => ({
          info: { name: extra.name, address: handle.address ?? '-' },
          ...(handle.exited ? { exited: handle.exited } : {}),
          stop: () => handle.stop(),
        })),
      ]);
      extras.push(started!);
    }

    const all = layers.flat();
    return {
      parts: [...functions, localA!, localB!, firestore!, pubsub!, ...extras].map((part) => part.info),
      env: functionEnv,
      failure: Promise.race(all.flatMap((part) => (part.exited ? [part.exited] : []))),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function emulatorLogDir(): string {
  return path.join(PROJECT_ROOT, '.data', 'logs');
}

function emulatorPart(emulator: RunningEmulator): Part {
  const title = emulator.name === 'firestore-emulator' ? 'Firestore emulator' : 'Pub/Sub emulator';
  return {
    // The pid (of its process group) lets the chaos scenarios stall it with SIGSTOP.
    info: { name: title, address: emulator.host, pid: emulator.pid },
    exited: unexpectedExit(title, emulator.exited, ` (see ${emulator.logFile})`),
    stop: () => emulator.stop(),
  };
}

/**
 * How a crashed function is replaced, as Cloud Run replaces an instance: after 0.5 s, doubling with each
 * crash in a row up to 10 s; more than 5 crashes within a minute is a crash loop, and the stack stops.
 */
export const FUNCTION_RESTART = {
  backoff: { minMs: 500, maxMs: 10_000 },
  crashLoop: { limit: 5, windowMs: 60_000 },
} as const;

async function startFunction(
  fn: (typeof FUNCTIONS)[number],
  port: number,
  env: StackEnv,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
  logDir: string | undefined,
): Promise<Part> {
  const address = `http://127.0.0.1:${port}`;
  const launch = (restart: boolean) => launchFunction(fn, port, env, log, signal, logDir, restart);
  const supervised = superviseGroup(await launch(false), {
    name: fn.name,
    launch: () => launch(true),
    ...FUNCTION_RESTART,
    log,
  });
  return {
    info: {
      name: fn.title,
      address,
      get pid() {
        return supervised.current.pid;
      },
      get restarts() {
        return supervised.restarts;
      },
    },
    exited: supervised.gaveUp,
    stop: () => supervised.stop(),
  };
}

/** Starts one instance of a function and resolves once it is ready. */
async function launchFunction(
  fn: (typeof FUNCTIONS)[number],
  port: number,
  env: StackEnv,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
  logDir: string | undefined,
  restart: boolean,
): Promise<GroupProcess> {
  const prefix = `[${fn.name}]`;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const group: GroupProcess = await spawnGroup(
    process.execPath,
    [FUNCTIONS_FRAMEWORK_MAIN, `--target=${fn.target}`, `--port=${port}`, '--source=.'],
    {
      name: fn.name,
      cwd: PROJECT_ROOT,
      // FUNCTION_TARGET as Cloud Functions sets it: the function builds its own parts at start.
      env: { ...env, FUNCTION_TARGET: fn.target } as NodeJS.ProcessEnv,
      // A replacement appends to the log of the instance it replaces.
      output: logDir
        ? { logFile: path.join(logDir, `${fn.name}.log`), append: restart }
        : { onLine: (line) => log(`${prefix} ${line}`) },
    },
  );
  const address = `http://127.0.0.1:${port}`;
  const exited = unexpectedExit(fn.name, group.exited, '');
  const died = new AbortController();
  void exited.then((reason) => died.abort(new Error(reason)));
  try {
    const waitSignal = signal ? AbortSignal.any([signal, died.signal]) : died.signal;
    if (fn.ready.kind === 'healthz') {
      await waitForHttp(`${address}/healthz`, 200, READY_TIMEOUT_MS, { signal: waitSignal });
    } else {
      await waitForListening(port, READY_TIMEOUT_MS, waitSignal);
    }
  } catch (error) {
    await group.stop();
    if (signal?.aborted) throw signal.reason;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${fn.name} did not become healthy: ${reason}`, { cause: error });
  }
  return group;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
async function waitForListening(port: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    signal.throwIfAborted();
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    await sleep(200, undefined, { signal }).catch(() => undefined);
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for port ${port} to listen`);
}

/** Resolves with a description when the process exits without having been asked to; else never. */
function unexpectedExit(
  name: string,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; expected: boolean }>,
  hint: string,
): Promise<string> {
  return exited.then((exit) =>
    exit.expected
      ? new Promise<string>(() => undefined)
      : `${name} exited unexpectedly (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})${hint}`,
  );
}

/** Reads and validates every port setting, then picks distinct ports (see the policy in the file comment). */
async function choosePorts(env: NodeJS.ProcessEnv): Promise<Record<PortSetting, number>> {
  const requested = new Map<PortSetting, number | undefined>();
  for (const setting of Object.keys(PORT_SETTINGS) as PortSetting[]) {
    const raw = env[setting];
    if (raw === undefined || raw === '') {
      requested.set(setting, undefined);
      continue;
    }
    const port = Number(raw);
    if (!/^\d+$/.test(raw) || port > 65_535) {
      throw new StackConfigError(
        `${setting}=${raw}: expected a port number from 0 to 65535 (0 = any free port)`,
      );
    }
    const clash = [...requested].find(([, other]) => other === port && port !== 0);
    if (clash) throw new StackConfigError(`${setting}=${raw}: ${clash[0]} is set to the same port`);
    requested.set(setting, port);
  }

  const chosen = {} as Record<PortSetting, number>;
  const taken = new Set([...requested.values()].filter((port) => port !== undefined && port !== 0));
  for (const [setting, port] of requested) {
    const defaultPort = PORT_SETTINGS[setting];
    for (;;) {
      const candidate = await pickPort({
        port,
        defaultPort: taken.has(defaultPort) ? undefined : defaultPort,
        label: setting,
      }).catch((error: unknown) => {
        throw new StackConfigError(error instanceof Error ? error.message : String(error));
      });
      if (port !== undefined && port !== 0) {
        chosen[setting] = candidate;
        break;
      }
      if (!taken.has(candidate)) {
        taken.add(candidate);
        chosen[setting] = candidate;
        break;
      }
    }
  }
  return chosen;
}

// ---------------------------------------------------------------------------------------------------------
// `npm start`

function printReady(stack: RunningStack): void {
  const rows = stack.parts;
  const width = Math.max(...rows.map((row) => row.name.length), 'part'.length);
  const inference = rows.find((row) => row.name === 'inference API')?.address ?? 'http://127.0.0.1:8080';
  const reviewer = rows.find((row) => row.name === 'reviewer API')?.address ?? 'http://127.0.0.1:8081';
  const lines = [
    '',
    `Local stack is up (project ${stack.env.GOOGLE_CLOUD_PROJECT}, GATEWAY_ENV=local):`,
    '',
    `  ${'part'.padEnd(width)}  address`,
    `  ${'-'.repeat(width)}  -------`,
    ...rows.map((row) => `  ${row.name.padEnd(width)}  ${row.address}`),
    `  ${'audit log'.padEnd(width)}  ${stack.env.AUDIT_LOG_FILE}`,
    `  ${'emulator logs'.padEnd(width)}  ${emulatorLogDir()}`,
    '',
    'Try:',
    `  curl -s -X POST ${inference}/v1/inferences \\`,
    `    -H 'Authorization: Bearer dev:acme:clinician:alice' \\`,
    `    -H "Idempotency-Key: demo-$(date +%s)" -H 'Content-Type: application/json' \\`,
    `    -d '{"task":"medication-extraction","input":{"text":"Metformin 500 mg twice daily"}}'`,
    `  curl -s '${reviewer}/v1/reviews?state=pending' -H 'Authorization: Bearer dev:acme:reviewer:rita'`,
    `  open ${reviewer}/console/ in a browser and sign in as tenant acme, name rita (the reviewer console)`,
    '  (docs/review.md, "A reviewer\'s day", walks through claim and decision.)',
    '',
    'Press Ctrl-C to stop.',
    '',
  ];
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
  const shutdown = new AbortController();
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shutdown.signal.aborted) {
      // npm and tsx relay the terminal's Ctrl-C, so one key press can arrive two or three times at once.
      if (Date.now() - firstSignalAt < 1_000) return;
      console.error(`[stack] ${signal} again: exiting at once`);
      process.exit(130); // the exit-time safety net in processes.ts kills the process groups
    }
    firstSignalAt = Date.now();
    console.log(`\n[stack] ${signal}: stopping (press Ctrl-C again to force)`);
    shutdown.abort(new Error(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let stack: RunningStack;
  try {
    stack = await startStack({ signal: shutdown.signal });
  } catch (error) {
    if (shutdown.signal.aborted) {
      console.log('[stack] stopped');
      process.exit(0);
    }
    console.error(`[stack] could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  printReady(stack);

  const outcome = await Promise.race([
    stack.failure.then((reason) => ({ kind: 'failure' as const, reason })),
    new Promise<{ kind: 'signal' }>((resolve) =>
      shutdown.signal.addEventListener('abort', () => resolve({ kind: 'signal' }), { once: true }),
    ),
  ]);
  if (outcome.kind === 'failure') console.error(`[stack] ${outcome.reason}; stopping everything`);
  await stack.stop();
  console.log('[stack] stopped');
  process.exit(outcome.kind === 'failure' ? 1 : 0);
}

const runDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (runDirectly) await main();
