/**
 * `npm run chaos`: the chaos scenarios (scenarios.ts) against a local stack of their own, on free ports.
 * Prints a table (scenario, requests, statuses, double calls, lost items, recovery time, peak RSS) with the
 * machine and settings, and a verdict per scenario; exits 1 if any scenario fails.
 *
 *   npm run chaos                                   # every scenario (about 10 minutes)
 *   npm run chaos -- --short                        # the short ones (those `npm test` runs too)
 *   npm run chaos -- --scenarios firestore-stall-10s,kill-inference-api
 */
import { parseArgs } from 'node:util';
import { describeMachine } from '../machine.js';
import {
  chaosTable,
  MEMORY_LIMIT_MIB,
  runScenario,
  type ScenarioResult,
  scenarios,
  startChaosStack,
  verdictOf,
} from './scenarios.js';

const { values: flags } = parseArgs({
  options: { scenarios: { type: 'string' }, short: { type: 'boolean', default: false } },
});

async function main(): Promise<void> {
  const wanted = flags.scenarios?.split(',');
  const chosen = wanted
    ? wanted.flatMap((name) => scenarios.filter((s) => s.name === name))
    : scenarios.filter((s) => !flags.short || s.short);
  const unknown = wanted?.filter((name) => !scenarios.some((s) => s.name === name)) ?? [];
  if (unknown.length > 0)
    throw new Error(
      `unknown scenarios: ${unknown.join(', ')} (known: ${scenarios.map((s) => s.name).join(', ')})`,
    );
  console.log('Chaos scenarios (npm run chaos)');
  console.log(`machine: ${describeMachine()}`);
  console.log('starting a local stack on free ports…');
  const chaos = await startChaosStack();
  const results: ScenarioResult[] = [];
  try {
    console.log(
      `settings: FIRESTORE_DEADLINE_MS default, IDEMPOTENCY_LEASE_SECONDS 10, REVIEW_INTAKE_GRACE_SECONDS 30, AUDIT_PENDING_GRACE_SECONDS 15, MAX_CONCURRENT_REQUESTS default; memory limit ${MEMORY_LIMIT_MIB} MiB; audit file ${chaos.auditFile}`,
    );
    for (const scenario of chosen) {
      console.log(`${scenario.name}: ${scenario.keys} keys at ${scenario.rate}/s`);
      const started = Date.now();
      const result = await runScenario(chaos, scenario, (line) => console.log(line));
      results.push(result);
      console.log(
        `  ${verdictOf(result)}; ${result.offeredRate.toFixed(0)} keys/s offered (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
  } finally {
    await chaos.stop();
  }
  console.log('');
  console.log(chaosTable(results));
  console.log(
    '\noffered: new keys per second the client really started (with the rate asked when it fell short); statuses: every answer clients got (conn = connection refused or reset); double calls: model calls beyond one per key; recovery: from the end of the fault until every key was answered and every review item listed',
  );
  if (results.some((r) => r.failures.length > 0)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
