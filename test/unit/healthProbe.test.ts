import assert from 'node:assert/strict';
import { HealthProbe } from '../../functions/src/http/healthProbe.js';

/** A dependency check the test answers by hand, counting the calls. */
function manualCheck() {
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return {
    calls: () => pending.length,
    check: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
    answer: (ok: boolean) => {
      const call = pending.at(-1)!;
      if (ok) call.resolve();
      else call.reject(new Error('unreachable'));
    },
  };
}

describe('health probe (GET /healthz)', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('reuses an answer for cacheMs, then asks the dependency again', async () => {
    const dep = manualCheck();
    const probe = new HealthProbe(dep.check, { cacheMs: 2_000, clock });
    const first = probe.healthy();
    dep.answer(true);
    assert.equal(await first, true);
    now += 1_999;
    assert.equal(await probe.healthy(), true);
    assert.equal(dep.calls(), 1);
    now += 1;
    const second = probe.healthy();
    assert.equal(dep.calls(), 2);
    dep.answer(false);
    assert.equal(await second, false);
  });

  it('caches a failure too, so a down dependency is not asked by every probe', async () => {
    const dep = manualCheck();
    const probe = new HealthProbe(dep.check, { cacheMs: 2_000, clock });
    const first = probe.healthy();
    dep.answer(false);
    assert.equal(await first, false);
    assert.equal(await probe.healthy(), false);
    assert.equal(dep.calls(), 1);
  });

  it('lets probes that arrive during a check wait for it rather than start their own', async () => {
    const dep = manualCheck();
    const probe = new HealthProbe(dep.check, { cacheMs: 2_000, clock });
    const answers = [probe.healthy(), probe.healthy(), probe.healthy()];
    assert.equal(dep.calls(), 1);
    dep.answer(true);
    assert.deepEqual(await Promise.all(answers), [true, true, true]);
  });

  it('answers false when the check throws at once', async () => {
    const probe = new HealthProbe(
      () => {
        throw new Error('no client');
      },
      { cacheMs: 2_000, clock },
    );
    assert.equal(await probe.healthy(), false);
  });
});
