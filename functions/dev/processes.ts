/**
 * Process and port helpers shared by the local stack (`npm start`), the test root hooks and the benchmarks.
 *
 * Every helper process is spawned as the leader of its own process group (`detached: true`, i.e. its own
 * session), for two reasons:
 * - a wrapper script and the JVM it starts can be stopped together, and nothing is left behind;
 * - a Ctrl-C in the terminal reaches only the parent, which then stops its parts in order, instead of every
 *   child dying at once and looking like a crash.
 *
 * A process-wide safety net kills every group still registered when the parent exits (normally, through an
 * uncaught error, or through SIGINT/SIGTERM/SIGHUP with nobody else handling it), so that a crashing test run
 * never leaves a Java process behind. Only SIGKILL of the parent itself cannot be caught.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Backoff, backoffDelayMs } from '../src/core/retry.js';

// ---------------------------------------------------------------------------------------------------------
// Ports

/** A port that is free on `host` right now (the OS picks it; another process may still take it later). */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  server.unref();
  server.listen({ port: 0, host, exclusive: true });
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not determine a free port');
  return address.port;
}

/**
 * Whether nothing listens on `port`. Without `host` the probe binds every address (IPv6 and IPv4), so a
 * listener on any local address counts as busy.
 */
export async function isPortFree(port: number, host?: string): Promise<boolean> {
  const server = net.createServer();
  server.unref();
  try {
    server.listen({ port, host, exclusive: true });
    await once(server, 'listening');
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'EADDRINUSE' || error.code === 'EACCES')) return false;
    throw error;
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return true;
}

export interface PortRequest {
  /** Explicitly requested port: must be free. `0` means any free port. */
  port?: number | undefined;
  /** Used when `port` is undefined, unless it is busy, in which case a free port is picked instead. */
  defaultPort?: number | undefined;
  /** Names the setting in the error when an explicit port is busy, e.g. `FIRESTORE_EMULATOR_PORT`. */
  label?: string;
}

/** Resolves the port policy used everywhere: explicit = must be free, default = if free, else any free. */
export async function pickPort({ port, defaultPort, label = 'port' }: PortRequest): Promise<number> {
  if (port === 0) return findFreePort();
  if (port !== undefined) {
    if (await isPortFree(port)) return port;
    throw new Error(
      `${label}: port ${port} is already in use (set it to another port, or to 0 for any free port)`,
    );
  }
  if (defaultPort !== undefined && (await isPortFree(defaultPort))) return defaultPort;
  return findFreePort();
}

// ---------------------------------------------------------------------------------------------------------
// Waiting for HTTP

export interface WaitForHttpOptions {
  /** Pause between attempts. Default 200 ms. */
  intervalMs?: number;
  /** Stops waiting at once, e.g. when the process that should answer has exited. */
  signal?: AbortSignal;
  /** The body must also contain this text (e.g. the Firestore emulator's "Ok"). */
  bodyIncludes?: string;
}

/**
 * Polls `GET url` until it answers `expectStatus`; rejects after `timeoutMs` naming the last outcome seen
 * (a status or a connection error), or as soon as `options.signal` aborts, with its reason.
 */
export async function waitForHttp(
  url: string,
  expectStatus = 200,
  timeoutMs = 60_000,
  options: WaitForHttpOptions = {},
): Promise<void> {
  const { intervalMs = 200, signal, bodyIncludes } = options;
  const deadline = Date.now() + timeoutMs;
  let lastOutcome = 'no answer yet';
  for (;;) {
    signal?.throwIfAborted();
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const attemptSignal = AbortSignal.timeout(Math.min(remaining, 5_000));
    try {
      const response = await fetch(url, {
        signal: signal ? AbortSignal.any([signal, attemptSignal]) : attemptSignal,
      });
      const body = await response.text();
      if (response.status === expectStatus && (bodyIncludes === undefined || body.includes(bodyIncludes)))
        return;
      lastOutcome = `HTTP ${response.status}`;
    } catch (error) {
      signal?.throwIfAborted();
      lastOutcome = describeFetchError(error);
    }
    const pause = Math.min(intervalMs, deadline - Date.now());
    if (pause > 0) await sleep(pause, undefined, signal ? { signal } : {}).catch(() => undefined);
  }
  throw new Error(
    `timed out after ${Math.round(timeoutMs / 1000)} s waiting for GET ${url} to answer ${expectStatus} (last: ${lastOutcome})`,
  );
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (isErrnoException(cause) && cause.code) return cause.code;
  return error.name === 'TimeoutError' ? 'request timed out' : error.message;
}

// ---------------------------------------------------------------------------------------------------------
// Process groups

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the exit followed a call to `stop()`. */
  expected: boolean;
}

export type GroupOutput =
  /** stdout and stderr both go to this file (truncated first, unless `append`); the parent never reads them. */
  | { logFile: string; append?: boolean }
  /** Each line of stdout and stderr is handed to `onLine` (without its newline). */
  | { onLine: (line: string, stream: 'stdout' | 'stderr') => void };

export interface SpawnGroupOptions {
  /** A short name used in messages, e.g. `firestore-emulator`. */
  name: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  output: GroupOutput;
}

export interface GroupProcess {
  readonly name: string;
  /** The leader's pid, which is also the process group id. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** Settles when the leader has exited and been reaped. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /**
   * Stops the whole group: SIGTERM first (to the innermost processes, so a wrapper script can reap the JVM it
   * waits on), SIGKILL to everything left after `graceMs`. Resolves once no process of the group is running.
   * Safe to call more than once.
   */
  stop(graceMs?: number): Promise<void>;
}

const DEFAULT_GRACE_MS = 5_000;

/** Groups that may still be running, for the exit-time safety net. */
const liveGroups = new Set<number>();

/**
 * Spawns `command` as the leader of a new process group and registers it with the exit-time safety net.
 * Rejects when the command cannot be started at all (e.g. ENOENT).
 */
export async function spawnGroup(
  command: string,
  args: readonly string[],
  options: SpawnGroupOptions,
): Promise<GroupProcess> {
  installExitCleanup();
  const { name, cwd, env, output } = options;

  let child: ChildProcess;
  if ('logFile' in output) {
    const fd = openSync(output.logFile, output.append ? 'a' : 'w');
    try {
      child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
  } else {
    child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of ['stdout', 'stderr'] as const) {
      const readable = child[stream];
      if (readable) {
        createInterface({ input: readable, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
          output.onLine(line, stream),
        );
      }
    }
  }

  const pid = child.pid;
  if (pid === undefined) {
    const [error] = (await once(child, 'error')) as [Error];
    throw new Error(`${name}: could not start ${command}: ${error.message}`);
  }
  liveGroups.add(pid);

  let stopRequested = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      // A leader that dies on its own must not leave the rest of its group running.
      killGroupSync(pid, 'SIGKILL');
      liveGroups.delete(pid);
      resolve({ code, signal, expected: stopRequested });
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = DEFAULT_GRACE_MS): Promise<void> => {
    stopRequested = true;
    stopping ??= stopGroup(pid, exited, graceMs);
    return stopping;
  };

  return { name, pid, child, exited, stop };
}

async function stopGroup(pgid: number, leaderExited: Promise<ExitInfo>, graceMs: number): Promise<void> {
  if (await groupIsRunning(pgid)) {
    await signalInnermost(pgid, 'SIGTERM');
    if (!(await waitUntilGroupStops(pgid, graceMs))) {
      killGroupSync(pgid, 'SIGKILL');
      await waitUntilGroupStops(pgid, 5_000);
    }
  }
  await leaderExited;
  // Processes orphaned by a SIGKILL linger as zombies until init reaps them; they hold no ports or memory,
  // but wait briefly so that callers checking `process.kill(-pid, 0)` see the group gone.
  const deadline = Date.now() + 3_000;
  while (groupExists(pgid) && Date.now() < deadline) await sleep(50);
}

async function waitUntilGroupStops(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await groupIsRunning(pgid))) return true;
    await sleep(50);
  }
  return !(await groupIsRunning(pgid));
}

/** Sends `signal` to the whole group and ignores a group that is already gone. */
export function killGroupSync(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if (!(isErrnoException(error) && error.code === 'ESRCH')) throw error;
  }
}

/** Whether any process of the group exists, zombies included. */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EPERM') return true;
    return false;
  }
}

interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
}

/** The group's processes from /proc (Linux); undefined where /proc is not available. */
async function groupMembers(pgid: number): Promise<ProcStat[] | undefined> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return undefined;
  }
  const members: ProcStat[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        let stat: string;
        try {
          stat = await readFile(`/proc/${entry}/stat`, 'utf8');
        } catch {
          return; // exited meanwhile
        }
        // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid) {
          members.push({ pid: Number(entry), ppid: Number(fields[1]), state: fields[0] ?? '?' });
        }
      }),
  );
  return members;
}

/** Running means a member that is not a zombie (zombies only wait to be reaped). */
async function groupIsRunning(pgid: number): Promise<boolean> {
  const members = await groupMembers(pgid);
  if (members === undefined) return groupExists(pgid);
  return members.some((member) => member.state !== 'Z' && member.state !== 'X');
}

/**
 * Signals the group's innermost processes (those with no child in the group). A wrapper script such as
 * `cloud_firestore_emulator` runs `java` without `exec`: signalling only the JVM lets the script reap it and
 * exit on its own, whereas signalling both would orphan the JVM. Without /proc, signals the whole group.
 */
async function signalInnermost(pgid: number, signal: NodeJS.Signals): Promise<void> {
  const members = await groupMembers(pgid);
  if (members === undefined) {
    killGroupSync(pgid, signal);
    return;
  }
  const running = members.filter((member) => member.state !== 'Z' && member.state !== 'X');
  const parents = new Set(running.map((member) => member.ppid));
  for (const member of running) {
    if (parents.has(member.pid)) continue;
    try {
      process.kill(member.pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

let exitCleanupInstalled = false;

/**
 * Kills every registered group when this process exits. On SIGINT/SIGTERM/SIGHUP it exits the process (as the
 * default action would) unless another listener, such as the stack's orderly shutdown, handles the signal.
 */
function installExitCleanup(): void {
  if (exitCleanupInstalled) return;
  exitCleanupInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroupSync(pgid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) > 1) return; // someone else owns shutdown; 'exit' stays the backstop
      process.exit(128 + osConstants.signals[signal]);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------

export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

// ---------------------------------------------------------------------------------------------------------
// Supervision

export interface SuperviseOptions {
  /** A short name used in messages. */
  name: string;
  /** Starts one instance and resolves once it is ready; a rejection counts as a crash. */
  launch: () => Promise<GroupProcess>;
  /** The wait before restart n (1, 2, …) of a crash streak. */
  backoff: Backoff;
  /** More than `limit` crashes within `windowMs` is a crash loop: the supervisor gives up. */
  crashLoop: { limit: number; windowMs: number };
  log?: (line: string) => void;
}

export interface Supervised {
  /** The instance running now (after a restart, a new process with a new pid). */
  readonly current: GroupProcess;
  /** How many times an instance was replaced. */
  readonly restarts: number;
  /** Resolves with a description when the supervisor gives up (a crash loop); never otherwise. */
  readonly gaveUp: Promise<string>;
  /** Stops supervising and stops the running instance. */
  stop(): Promise<void>;
}

/**
 * Keeps one process running as Cloud Run keeps an instance: one that exits without being asked to is
 * replaced, after a backoff that grows with each crash in a row; one that keeps crashing (a crash loop) is
 * given up on, and `gaveUp` says why. `first` is the instance already running.
 */
export function superviseGroup(first: GroupProcess, options: SuperviseOptions): Supervised {
  const { name, launch, backoff, crashLoop, log = () => undefined } = options;
  let current = first;
  let restarts = 0;
  let stopped = false;
  const crashes: number[] = [];
  let giveUp: (reason: string) => void = () => undefined;
  const gaveUp = new Promise<string>((resolve) => {
    giveUp = resolve;
  });
  const wake = new AbortController();

  const run = async () => {
    for (;;) {
      const exit = await current.exited;
      if (stopped || exit.expected) return;
      let outcome = `exited unexpectedly (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`;
      for (;;) {
        const now = Date.now();
        crashes.push(now);
        while (crashes.length > 0 && crashes[0]! < now - crashLoop.windowMs) crashes.shift();
        if (crashes.length > crashLoop.limit) {
          giveUp(
            `${name} ${outcome}; crash loop: ${crashes.length} crashes within ${crashLoop.windowMs / 1000} s, not restarted`,
          );
          return;
        }
        const delay = backoffDelayMs(crashes.length, backoff);
        log(`[stack] ${name} ${outcome}; restarting in ${delay} ms`);
        await sleep(delay, undefined, { signal: wake.signal }).catch(() => undefined);
        if (stopped) return;
        try {
          current = await launch();
          if (stopped) return; // stop() stops this one too
          restarts++;
          log(`[stack] ${name} restarted (pid ${current.pid})`);
          break;
        } catch (error) {
          outcome = `did not restart (${error instanceof Error ? error.message : String(error)})`;
        }
      }
    }
  };
  const loop = run();

  return {
    get current() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    gaveUp,
    stop: async () => {
      stopped = true;
      wake.abort();
      await current.stop();
      await loop;
      await current.stop(); // an instance a restart had under way
    },
  };
}
