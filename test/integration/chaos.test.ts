import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  type ChaosStack,
  runScenario,
  scenarios,
  startChaosStack,
} from '../../functions/dev/chaos/scenarios.js';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';

/**
 * The short chaos scenarios (functions/dev/chaos/scenarios.ts; `npm run chaos` runs them all) against a
 * local stack of their own: the functions as Functions Framework processes, so that a SIGKILL is a real
 * crash and the local supervisor's restart a real replacement. Every invariant must hold.
 */
describe('chaos: the short scenarios, against a local stack of their own', () => {
  let chaos: ChaosStack;

  before(async function () {
    this.timeout(300_000);
    // The stack runs the compiled functions: build them from this checkout first.
    await promisify(execFile)(
      process.execPath,
      [path.join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: PROJECT_ROOT },
    );
    chaos = await startChaosStack();
  });
  after(async function () {
    this.timeout(60_000);
    await chaos?.stop();
  });

  for (const scenario of scenarios.filter((s) => s.short)) {
    it(`${scenario.name}: every key one answer, no extra model call, nothing lost, audit clean`, async function () {
      this.timeout(300_000);
      const result = await runScenario(chaos, scenario);
      assert.deepEqual(result.failures, [], JSON.stringify(result));
    });
  }

  it('the stack kept running through the crash: the killed function was replaced, not the stack stopped', async () => {
    const jobs = chaos.part('review jobs');
    assert.ok((jobs.restarts ?? 0) >= 1, 'review jobs was restarted');
    const health = await fetch(`${jobs.address}/healthz`);
    assert.equal(health.status, 200);
    const stopped = await Promise.race([chaos.stack.failure, Promise.resolve('running')]);
    assert.equal(stopped, 'running');
  });
});
