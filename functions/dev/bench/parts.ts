/**
 * What the parts of an answer cost in CPU, measured apart from the gateway: the Firestore calls of the floor
 * and of a replay, and one call to a local model server through three HTTP clients. It is the yardstick for
 * the inference API's CPU per request (`npm run bench:load`): what one new key needs at the least, on this
 * machine, before any of the gateway's own work.
 *
 *   npm run bench:parts                                     # 2,000 calls each, 16 at a time, 2 rounds
 *   npm run bench:parts -- --count 5000 --concurrency 64 --rounds 3
 *
 * Starts a Firestore emulator and a model server (answering at once) of its own, then runs partsWorker.ts on
 * plain Node and prints its CPU time per call (user + system, process.cpuUsage) and wall time per round.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT, startFirestoreEmulator } from '../emulators.js';
import { describeMachine } from '../machine.js';
import { startModelServer } from '../modelServer/modelServer.js';
import { spawnGroup } from '../processes.js';

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});

type Row = { name: string; round: number; cpuMs: number; wallMs: number };

async function main(): Promise<void> {
  const emulator = await startFirestoreEmulator({ port: 0 });
  const model = await startModelServer({ name: 'local-a', port: 0 });
  try {
    let output = '';
    const worker = await spawnGroup(
      process.execPath,
      [
        path.join(PROJECT_ROOT, 'functions/dev/bench/partsWorker.ts'),
        flags.count,
        flags.concurrency,
        flags.rounds,
      ],
      {
        name: 'parts worker',
        cwd: PROJECT_ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          FIRESTORE_EMULATOR_HOST: emulator.host,
          FIRESTORE_ENABLE_TRACING: 'off',
          METADATA_SERVER_DETECTION: 'none',
          MODEL_URL: `${model.url}/v1`,
          // The type stripping that runs the worker's TypeScript says it is experimental, once.
          NODE_NO_WARNINGS: '1',
        },
        output: {
          onLine: (line) => {
            if (line.startsWith('[')) output = line;
          },
        },
      },
    );
    const exit = await worker.exited;
    if (!output) throw new Error(`the parts worker printed no figures (exit ${JSON.stringify(exit)})`);
    const rows = JSON.parse(output) as Row[];
    console.log('CPU per call of the parts of an answer (npm run bench:parts)');
    console.log(`machine: ${describeMachine({ loadAverage: true })}`);
    console.log(
      `settings: ${flags.count} calls per measurement, ${flags.concurrency} at a time, ${flags.rounds} round(s); ` +
        'Firestore emulator; local model server answering at once (10 KB completion with logprobs)\n',
    );
    const rounds = [...new Set(rows.map((r) => r.round))];
    console.log(
      `| operation | ${rounds.map((r) => `round ${r}: CPU ms/call`).join(' | ')} | wall ms (last) |`,
    );
    console.log(`| --- | ${rounds.map(() => '---').join(' | ')} | --- |`);
    for (const name of [...new Set(rows.map((r) => r.name))]) {
      const mine = rows.filter((r) => r.name === name);
      console.log(
        `| ${name} | ${mine.map((r) => r.cpuMs.toFixed(3)).join(' | ')} | ${mine.at(-1)!.wallMs.toFixed(0)} |`,
      );
    }
  } finally {
    await model.close();
    await emulator.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
