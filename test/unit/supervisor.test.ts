import assert from 'node:assert/strict';
import { type GroupProcess, spawnGroup, superviseGroup } from '../../functions/dev/processes.js';

/** A process that runs until killed, or one that exits at once with code 1 (a crash at start). */
const launchIdle = () =>
  spawnGroup(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    name: 'idle',
    output: { onLine: () => undefined },
  });
const launchCrashing = () =>
  spawnGroup(process.execPath, ['-e', 'process.exit(1)'], {
    name: 'crashing',
    output: { onLine: () => undefined },
  });

const fast = { backoff: { minMs: 10, maxMs: 40 }, crashLoop: { limit: 3, windowMs: 60_000 } };

describe('superviseGroup (the local stack restarts a crashed function)', () => {
  it('replaces a SIGKILLed process with a new one, again and again', async () => {
    const supervised = superviseGroup(await launchIdle(), { name: 'idle', launch: launchIdle, ...fast });
    try {
      const seen = new Set<number>();
      for (let kill = 1; kill <= 2; kill++) {
        const victim: GroupProcess = supervised.current;
        seen.add(victim.pid);
        process.kill(victim.pid, 'SIGKILL');
        await victim.exited;
        while (supervised.restarts < kill) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(!seen.has(supervised.current.pid), 'a new process');
        process.kill(supervised.current.pid, 0); // it runs
      }
      const gaveUp = await Promise.race([supervised.gaveUp, Promise.resolve('still supervised')]);
      assert.equal(gaveUp, 'still supervised');
    } finally {
      await supervised.stop();
    }
    const last = await supervised.current.exited;
    assert.equal(last.expected, true);
  });

  it('gives up on a crash loop and says so', async () => {
    const supervised = superviseGroup(await launchCrashing(), {
      name: 'crashing',
      launch: launchCrashing,
      ...fast,
    });
    const reason = await supervised.gaveUp;
    assert.match(reason, /crash loop: 4 crashes/);
    assert.equal(supervised.restarts, 3);
    await supervised.stop();
  });

  it('does not restart a process it was asked to stop', async () => {
    let launches = 0;
    const launch = () => {
      launches++;
      return launchIdle();
    };
    const supervised = superviseGroup(await launch(), { name: 'idle', launch, ...fast });
    await supervised.stop();
    assert.equal((await supervised.current.exited).expected, true);
    assert.equal(launches, 1);
    assert.equal(supervised.restarts, 0);
  });
});
