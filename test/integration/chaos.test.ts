import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { BENCH_BODY, BENCH_HEADERS } from '../../functions/dev/bench/benchRequest.js';
import {
  type ChaosStack,
  runScenario,
  scenarios,
  startChaosStack,
} from '../../functions/dev/chaos/scenarios.js';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';
import { type ModelBehaviour, modelControls } from '../support/gatewayHarness.js';

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

  it('the deployed entry point at capacity refuses before reading a body: malformed JSON gets 503, not 400', async function () {
    this.timeout(60_000);
    const models = ['local-a', 'local-b'].map((name) => modelControls(chaos.part(`model ${name}`).address));
    const behave = (behaviour: ModelBehaviour) => Promise.all(models.map((m) => m.setBehaviour(behaviour)));
    const url = `${chaos.part('inference API').address}/v1/inferences`;
    const post = (body: string) =>
      fetch(url, {
        method: 'POST',
        headers: { ...BENCH_HEADERS, 'idempotency-key': randomUUID() },
        body,
      });
    await behave({ latencyMs: 1_500 });
    try {
      // MAX_CONCURRENT_REQUESTS is the default, 80: that many held by the model fill the instance.
      const held = Array.from({ length: 80 }, () => post(BENCH_BODY));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const refused = await post('{"task": "medication-extraction", "input": ');
      assert.equal(refused.status, 503);
      assert.ok(refused.headers.get('retry-after'));
      assert.match(((await refused.json()) as { type: string }).type, /overloaded$/);
      const answers = await Promise.all(held);
      await Promise.all(answers.map((r) => r.arrayBuffer()));
      assert.deepEqual(
        answers.filter((r) => r.status >= 300).map((r) => r.status),
        [],
        'the requests holding the instance were answered',
      );
    } finally {
      await behave({ latencyMs: 0 });
    }
    const parsed = await post('{"task": "medication-extraction", "input": ');
    assert.equal(parsed.status, 400, 'with room again, the same body is read, and refused as malformed');
  });
});
