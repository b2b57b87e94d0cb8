/**
 * Starts the real Google Cloud Firestore and Pub/Sub emulators (Java programs from the Google Cloud CLI) for
 * the local stack and the tests.
 *
 * Each emulator runs in its own process group with its output in `.data/logs/<name>-<port>.log`; the
 * returned handle resolves only once the emulator answers HTTP, and `stop()` ends the whole group (see
 * processes.ts), so no JVM outlives its owner.
 *
 * Binaries are found through `FIRESTORE_EMULATOR_BIN` / `PUBSUB_EMULATOR_BIN`, else the Debian package paths,
 * else under the gcloud SDK root. Missing Java or binaries fail with a message that says how to install them.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExitInfo, type GroupProcess, pickPort, spawnGroup, waitForHttp } from './processes.js';

export type EmulatorName = 'firestore-emulator' | 'pubsub-emulator';

export interface EmulatorOptions {
  /** `0` = any free port; unset = the emulator's default port (8180 / 8185), or any free port if busy. */
  port?: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Default `GOOGLE_CLOUD_PROJECT`, else `demo-clinical-gateway`. */
  projectId?: string;
  /** Where the emulator's output goes. Default `<project root>/.data/logs`. */
  logDir?: string;
  /** How long to wait for the emulator to answer. Default 60 s. */
  startupTimeoutMs?: number;
  /**
   * `on-failure` deletes the log file when `stop()` ends an emulator that ran without trouble, so test runs
   * on random ports do not pile up logs. Default: `on-failure` for `port: 0`, else `always`.
   */
  keepLog?: 'always' | 'on-failure';
}

export interface RunningEmulator {
  name: EmulatorName;
  /** `host:port`, the value for `FIRESTORE_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST`. */
  host: string;
  port: number;
  /** Process group id of the emulator (its wrapper script and JVM). */
  pid: number;
  logFile: string;
  /** Settles if the emulator exits, expectedly (after `stop()`) or not. */
  exited: Promise<ExitInfo>;
  stop(): Promise<void>;
}

/** Java or an emulator binary is missing; the message says what and how to install it. */
export class EmulatorSetupError extends Error {
  override readonly name = 'EmulatorSetupError';
}

export function isEmulatorSetupError(error: unknown): error is EmulatorSetupError {
  return error instanceof EmulatorSetupError;
}

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_PROJECT_ID = 'demo-clinical-gateway';
const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;
/** The emulator jars target Java 11 (class file version 55); the project installs and tests with 17. */
const MIN_JAVA_MAJOR = 11;
const JAVA_INSTALL_HINT = 'apt-get install -y openjdk-17-jre-headless';
const EMULATOR_INSTALL_HINT =
  'apt-get install -y google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator ' +
  '(from the Google Cloud CLI apt repository), or `gcloud components install cloud-firestore-emulator pubsub-emulator`';

interface EmulatorSpec {
  name: EmulatorName;
  title: string;
  binEnv: string;
  /** Path of the launcher relative to the SDK root. */
  sdkRelativePath: string;
  defaultPort: number;
  args(host: string, port: number, projectId: string): string[];
  /** Path answering 200 once the emulator serves requests, and text its body must contain. */
  readiness(projectId: string): { path: string; bodyIncludes?: string };
}

const FIRESTORE: EmulatorSpec = {
  name: 'firestore-emulator',
  title: 'Firestore emulator',
  binEnv: 'FIRESTORE_EMULATOR_BIN',
  sdkRelativePath: 'platform/cloud-firestore-emulator/cloud_firestore_emulator',
  defaultPort: 8180,
  args: (host, port, projectId) => [
    'start',
    '--host',
    host,
    '--port',
    String(port),
    '--project_id',
    projectId,
  ],
  readiness: () => ({ path: '/', bodyIncludes: 'Ok' }),
};

const PUBSUB: EmulatorSpec = {
  name: 'pubsub-emulator',
  title: 'Pub/Sub emulator',
  binEnv: 'PUBSUB_EMULATOR_BIN',
  sdkRelativePath: 'platform/pubsub-emulator/bin/cloud-pubsub-emulator',
  defaultPort: 8185,
  args: (host, port) => [`--host=${host}`, `--port=${port}`],
  // The root answers "Ok" before the gRPC-to-HTTP adapter serves the API; listing topics proves the API works.
  readiness: (projectId) => ({ path: `/v1/projects/${encodeURIComponent(projectId)}/topics` }),
};

export function startFirestoreEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator(FIRESTORE, options);
}

export function startPubsubEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator(PUBSUB, options);
}

/** Deletes every document of the emulator's default database for `projectId`. `host` is `host:port`. */
export async function clearFirestore(host: string, projectId: string): Promise<void> {
  const url = `http://${host}/emulator/v1/projects/${encodeURIComponent(projectId)}/databases/(default)/documents`;
  const response = await fetch(url, { method: 'DELETE' });
  await response.body?.cancel();
  if (!response.ok)
    throw new Error(`clearing the Firestore emulator at ${host} answered HTTP ${response.status}`);
}

async function startEmulator(spec: EmulatorSpec, options: EmulatorOptions): Promise<RunningEmulator> {
  const bin = locateBinary(spec);
  const java = checkJava();

  const bindHost = options.host ?? '127.0.0.1';
  const projectId = options.projectId ?? process.env.GOOGLE_CLOUD_PROJECT ?? DEFAULT_PROJECT_ID;
  const port = await pickPort({ port: options.port, defaultPort: spec.defaultPort, label: spec.title });
  const logDir = options.logDir ?? path.join(PROJECT_ROOT, '.data', 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${spec.name}-${port}.log`);

  const group = await spawnGroup(bin, spec.args(bindHost, port, projectId), {
    name: spec.name,
    env: { ...process.env, ...java.env },
    output: { logFile },
  });

  const host = `${formatHost(bindHost)}:${port}`;
  const { path: readyPath, bodyIncludes } = spec.readiness(projectId);
  const readyUrl = `http://${host}${readyPath}`;
  const timeoutMs = options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;

  const exitedEarly = new AbortController();
  void group.exited.then((exit) => exitedEarly.abort(exit));
  try {
    await waitForHttp(readyUrl, 200, timeoutMs, {
      signal: exitedEarly.signal,
      ...(bodyIncludes === undefined ? {} : { bodyIncludes }),
    });
  } catch (error) {
    const exit = exitedEarly.signal.aborted ? (exitedEarly.signal.reason as ExitInfo) : undefined;
    await group.stop();
    throw new Error(startupFailure(spec, group, error, exit, logFile), { cause: error });
  }

  const keepLog = options.keepLog ?? (options.port === 0 ? 'on-failure' : 'always');
  let crashed = false;
  void group.exited.then((exit) => {
    crashed = !exit.expected;
  });
  const stop = async (): Promise<void> => {
    await group.stop();
    if (keepLog === 'on-failure' && !crashed) await rm(logFile, { force: true });
  };

  return { name: spec.name, host, port, pid: group.pid, logFile, exited: group.exited, stop };
}

function startupFailure(
  spec: EmulatorSpec,
  group: GroupProcess,
  error: unknown,
  exit: ExitInfo | undefined,
  logFile: string,
): string {
  const what = exit
    ? `exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}) before answering`
    : `did not answer: ${error instanceof Error ? error.message : String(error)}`;
  return `${spec.title} (pid ${group.pid}) ${what}. Its output is in ${logFile}:\n${tail(logFile, 15)}`;
}

function tail(file: string, lines: number): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text === ''
      ? '  (empty)'
      : text
          .split('\n')
          .slice(-lines)
          .map((line) => `  | ${line}`)
          .join('\n');
  } catch {
    return '  (unreadable)';
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

// ---------------------------------------------------------------------------------------------------------
// Prerequisites

function locateBinary(spec: EmulatorSpec): string {
  const fromEnv = process.env[spec.binEnv];
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new EmulatorSetupError(
      `${spec.title} not found: ${spec.binEnv}=${fromEnv} is not an executable file. ` +
        `Point ${spec.binEnv} at the emulator's launcher, or unset it to use the Google Cloud CLI's. To install: ${EMULATOR_INSTALL_HINT}`,
    );
  }
  const candidates = [path.join('/usr/lib/google-cloud-sdk', spec.sdkRelativePath)];
  const sdkRoot = gcloudSdkRoot();
  if (sdkRoot) candidates.push(path.join(sdkRoot, spec.sdkRelativePath));
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new EmulatorSetupError(
    `${spec.title} not found (looked for ${[...new Set(candidates)].join(', ')}${sdkRoot ? '' : '; no gcloud on PATH'}). ` +
      `Install it: ${EMULATOR_INSTALL_HINT}; or set ${spec.binEnv} to its launcher.`,
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let sdkRootCache: string | null | undefined;

function gcloudSdkRoot(): string | null {
  if (sdkRootCache !== undefined) return sdkRootCache;
  const result = spawnSync('gcloud', ['info', '--format=value(installation.sdk_root)'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const root = result.status === 0 ? result.stdout.trim() : '';
  sdkRootCache = root === '' ? null : root;
  return sdkRootCache;
}

interface JavaCheck {
  /** Environment that makes both launchers use the Java that was checked. */
  env: NodeJS.ProcessEnv;
}

let javaCache: JavaCheck | undefined;

/**
 * The launchers differ: the Pub/Sub one uses `$JAVA_HOME/bin/java` when JAVA_HOME is set, the Firestore one
 * `$JAVA`, else `java` on PATH. Check the same Java they will run and pin it for both.
 */
function checkJava(): JavaCheck {
  if (javaCache) return javaCache;
  const javaHome = process.env.JAVA_HOME;
  const java = javaHome ? path.join(javaHome, 'bin', 'java') : (process.env.JAVA ?? 'java');
  const where = javaHome
    ? `${java} (from JAVA_HOME)`
    : java === 'java'
      ? '`java` on PATH'
      : `${java} (from JAVA)`;
  const result = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error || result.status !== 0) {
    throw new EmulatorSetupError(
      `Java not found: ${where} could not be run (${result.error?.message ?? `exit code ${result.status}`}). ` +
        `The Firestore and Pub/Sub emulators need Java ${MIN_JAVA_MAJOR} or newer: ${JAVA_INSTALL_HINT}`,
    );
  }
  const version = /version "([^"]+)"/.exec(`${result.stderr}${result.stdout}`)?.[1];
  const major = version === undefined ? Number.NaN : javaMajor(version);
  if (!(major >= MIN_JAVA_MAJOR)) {
    throw new EmulatorSetupError(
      `Java too old: ${where} is version ${version ?? 'unknown'}, the Firestore and Pub/Sub emulators need ` +
        `Java ${MIN_JAVA_MAJOR} or newer: ${JAVA_INSTALL_HINT}, and put it first on PATH or set JAVA_HOME.`,
    );
  }
  javaCache = { env: { JAVA: java } };
  return javaCache;
}

/** "1.8.0_392" is Java 8, "17.0.15" is 17. */
function javaMajor(version: string): number {
  const [first, second] = version.split(/[._-]/).map(Number);
  return first === 1 && second !== undefined ? second : (first ?? Number.NaN);
}
