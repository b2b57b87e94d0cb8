import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Ctrl-C must reach the project's long-running scripts (the local stack, chaos, the benchmarks), which own
 * process groups of their own (emulators, functions, model servers) and stop them on SIGINT. The tsx CLI
 * runs a script in a child process and relays the signal; if the child has not acknowledged it within
 * 60 ms (busy relaying its children's logs, say), tsx kills it with SIGKILL: its cleanup never runs, and
 * the groups it started are left running. So the npm scripts run `node --import tsx`: one process, which
 * gets the signal itself and handles it when it can.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/fixtures/busyAtSignal.ts');

type Ending = { output: string; code: number | null; signal: NodeJS.Signals | null };

/** Runs `args` in a process group of its own; sends SIGINT to the group once the fixture says `busy`. */
function interruptWhileBusy(args: string[]): Promise<Ending> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      detached: true,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    let interrupted = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (!interrupted && output.includes('busy\n')) {
        interrupted = true;
        process.kill(-child.pid!, 'SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ output, code, signal }));
  });
}

describe('Ctrl-C on a long-running script (npm scripts run node --import tsx)', function () {
  this.timeout(30_000);

  it('under node --import tsx, a process busy when the signal comes still cleans up', async () => {
    const ending = await interruptWhileBusy(['--import', 'tsx', fixture]);
    assert.equal(ending.output, 'busy\nstopping\ncleaned up\n');
    assert.equal(ending.code, 0);
  });

  it('under the tsx CLI, the same process is killed before its cleanup (why the scripts do not use it)', async () => {
    const ending = await interruptWhileBusy([path.join(root, 'node_modules/tsx/dist/cli.mjs'), fixture]);
    assert.equal(ending.output, 'busy\n');
    assert.notEqual(ending.code, 0);
  });

  it('no npm script runs a TypeScript file through the tsx CLI', () => {
    const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const throughCli = Object.entries(scripts)
      .filter(([, command]) => /(^|&&\s*|;\s*)(npx\s+)?tsx\s/.test(command))
      .map(([name]) => name);
    assert.deepEqual(throughCli, []);
  });
});
