import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { buildConsole } from '../../functions/console/build.js';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';
import { anyFreePorts, type RunningStack, startStack } from '../../functions/dev/stack.js';

/**
 * The real local stack for the browser tests, as `npm start` runs it (the compiled functions as Functions
 * Framework processes, both emulators, both model servers, the Pub/Sub push wiring and the local scheduler),
 * on free ports so it can run next to a developer's own `npm start`. Built first, as `npm start` does, so
 * the browser never sees a stale console or function.
 */
export type ConsoleStack = {
  stack: RunningStack;
  reviewerUrl: string;
  inferenceUrl: string;
  modelA: string;
  modelB: string;
  /** The stack's own output, for a failing test's report. */
  lines: string[];
};

export async function startConsoleStack(env: Record<string, string> = {}): Promise<ConsoleStack> {
  const tsc = spawnSync(path.join(PROJECT_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  if (tsc.status !== 0) throw new Error(`npm run build (tsc) failed:\n${tsc.stdout}${tsc.stderr}`);
  await buildConsole();

  const lines: string[] = [];
  const stack = await startStack({
    env: {
      ...process.env,
      ...anyFreePorts(),
      GOOGLE_CLOUD_PROJECT: `demo-console-${randomUUID().slice(0, 8)}`,
      AUDIT_LOG_FILE: path.join(PROJECT_ROOT, '.data', 'browser-tests-audit.jsonl'),
      AUDIT_TO_STDOUT: 'false',
      // A busy test machine must not make the functions shed the browser's requests.
      OVERLOAD_EVENT_LOOP_LAG_MS: '10000',
      ...env,
    },
    log: (line) => lines.push(line),
  });
  const address = (name: string) => stack.parts.find((p) => p.name === name)!.address;
  return {
    stack,
    reviewerUrl: address('reviewer API'),
    inferenceUrl: address('inference API'),
    modelA: address('model local-a'),
    modelB: address('model local-b'),
    lines,
  };
}
