import assert from 'node:assert/strict';
import { seededRandom } from '../../functions/dev/seededRandom.js';
import { ConfigError, loadConfig } from '../../functions/src/config.js';
import { DEV_CHAIN_KEY } from '../../functions/src/core/audit/chain.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import type { BreakerRecord, BreakerSettings } from '../../functions/src/core/breakers/breakerState.js';
import type { BreakerStore, BucketIncrement } from '../../functions/src/core/breakers/breakerStore.js';
import {
  SharedBreakerBoard,
  type SharedBreakerBoardDeps,
} from '../../functions/src/core/breakers/sharedBreakerBoard.js';
import { oldestBucketStart } from '../../functions/src/core/breakers/slidingWindow.js';
import type { CallOutcome } from '../../functions/src/core/routing/router.js';

/**
 * The shared breaker board against an in-memory store, in simulated time: traffic at a given rate, the flush
 * and refresh timers' work done where their ticks would fall. The settings are the shipped defaults (config.ts)
 * unless a test says otherwise.
 */

const T0 = Date.parse('2026-11-27T09:00:00Z');
const defaults: BreakerSettings = loadConfig({ GATEWAY_ENV: 'local' }).breakers.providers['local-a']!;

/** A store in memory: records by provider, bucket counts by provider, generation and start (shards summed). */
function memoryStore() {
  const records = new Map<string, BreakerRecord>();
  const buckets = new Map<string, { requests: number; failures: number }>();
  const key = (p: string, g: number, start: number) => `${p}|${g}|${start}`;
  const increments: BucketIncrement[][] = [];
  const store: BreakerStore = {
    loadRecords: async (providers) => new Map(providers.map((p) => [p, records.get(p) ?? null])),
    loadBuckets: async (provider, generation, from, to) => {
      const found = new Map<number, { requests: number; failures: number }>();
      for (const [k, counts] of buckets) {
        const [p, g, start] = k.split('|');
        const s = Number(start);
        if (p === provider && Number(g) === generation && s >= from && s <= to) found.set(s, { ...counts });
      }
      return found;
    },
    addCounts: async (list) => {
      increments.push([...list]);
      for (const i of list) {
        const k = key(i.provider, i.generation, i.bucketStart);
        const b = buckets.get(k) ?? { requests: 0, failures: 0 };
        b.requests += i.counts.requests;
        b.failures += i.counts.failures;
        buckets.set(k, b);
      }
    },
    update: async (provider, decide) => {
      const { write, result } = decide(records.get(provider) ?? null);
      if (write) records.set(provider, write);
      return result;
    },
  };
  return { store, records, increments };
}

/** Wraps a store: `down` rejects every call at once, `hang` leaves every call pending until `release()`. */
function faultyStore(inner: BreakerStore) {
  let mode: 'up' | 'down' | 'hang' = 'up';
  const hung: ((e: Error) => void)[] = [];
  const gate = <T>(work: () => Promise<T>): Promise<T> => {
    if (mode === 'up') return work();
    const error = Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
    if (mode === 'down') return Promise.reject(error);
    return new Promise<T>((_, reject) => void hung.push(() => reject(error)));
  };
  const store: BreakerStore = {
    loadRecords: (p) => gate(() => inner.loadRecords(p)),
    loadBuckets: (...a) => gate(() => inner.loadBuckets(...a)),
    addCounts: (i) => gate(() => inner.addCounts(i)),
    update: (p, d) => gate(() => inner.update(p, d)),
  };
  return {
    store,
    set: (m: typeof mode) => {
      mode = m;
    },
    /** The SDK's own deadline at last: every hung call fails. */
    release: () => {
      for (const fail of hung.splice(0)) fail(new Error('DEADLINE_EXCEEDED'));
    },
  };
}

type Instance = {
  board: SharedBreakerBoard;
  audit: AuditEvent[];
  logs: { severity: string; message: string; fields: Record<string, unknown> }[];
};

function instances(
  n: number,
  store: BreakerStore,
  clock: { now: number },
  settings: BreakerSettings = defaults,
  extra: Partial<Pick<SharedBreakerBoardDeps, 'storeDeadlineMs' | 'audit'>> = {},
): Instance[] {
  return Array.from({ length: n }, (_, i) => {
    const audit: AuditEvent[] = [];
    const logs: Instance['logs'] = [];
    const board = new SharedBreakerBoard({
      store,
      settings: { p: settings },
      flushMs: 5_000,
      refreshMs: 2_000,
      shards: 8,
      shard: i % 8,
      audit: { write: async (e) => void audit.push(e) },
      chainKey: DEV_CHAIN_KEY,
      gatewayVersion: 'test',
      log: (severity, message, fields) => void logs.push({ severity, message, fields }),
      clock: () => clock.now,
      ...extra,
    });
    return { board, audit, logs };
  });
}

/**
 * Sends `perSecond` calls a second for `seconds`, round-robin over the instances, as the router does (admit,
 * then record the outcome of an admitted call); flushes every 5 s and refreshes every 2 s, as the timers
 * would. `fails(t)` says whether the call at time t fails. Returns the time of the first refused admission.
 */
async function simulate(
  group: Instance[],
  clock: { now: number },
  options: {
    perSecond: number;
    seconds: number;
    fails: (t: number) => boolean;
    stopWhenOpen?: boolean;
    /** Wait for the boards' store work at the end (not with a store that never answers). */
    settle?: boolean;
  },
): Promise<{ firstRefusedAt: number | null; calls: number }> {
  const stepMs = 10;
  const end = clock.now + options.seconds * 1000;
  let owed = 0;
  let next = 0;
  let calls = 0;
  let firstRefusedAt: number | null = null;
  for (; clock.now < end; clock.now += stepMs) {
    owed += (options.perSecond * stepMs) / 1000;
    for (; owed >= 1; owed -= 1) {
      const { board } = group[next++ % group.length]!;
      const admission = await board.admit('p');
      if (!admission.allowed) {
        firstRefusedAt ??= clock.now;
        continue;
      }
      calls += 1;
      const outcome: CallOutcome = options.fails(clock.now)
        ? { ok: false, failure: 'server_error', latencyMs: 20, probe: admission.probe, inputChars: 2_000 }
        : { ok: true, latencyMs: 40, probe: admission.probe, inputChars: 2_000 };
      board.recordOutcome('p', outcome);
    }
    const t = clock.now - T0;
    if (t % 5_000 === 0) for (const { board } of group) await board.flush();
    if (t % 2_000 === 0) for (const { board } of group) await board.refresh();
    if (options.stopWhenOpen && firstRefusedAt !== null) break;
  }
  if (options.settle ?? true) for (const { board } of group) await board.settled();
  return { firstRefusedAt, calls };
}

const transitions = (group: Instance[]) =>
  group
    .flatMap((i) => i.audit)
    .map((e) => `${e.breaker?.from}→${e.breaker?.to}`)
    .sort();

describe('shared breaker board: the trip rule at clinic and at fleet scale (simulated time)', () => {
  it('cuts off a provider failing every call at 0.2 requests/s within 60 s', async () => {
    const clock = { now: T0 };
    const group = instances(1, memoryStore().store, clock);
    const run = await simulate(group, clock, {
      perSecond: 0.2,
      seconds: 60,
      fails: () => true,
      stopWhenOpen: true,
    });
    assert.notEqual(run.firstRefusedAt, null, 'opened within the minute');
    assert.deepEqual(transitions(group), ['closed→open']);
    const opened = group[0]!.audit[0]!;
    assert.ok(Date.parse(opened.timestamp) - T0 <= 60_000);
    assert.equal(opened.breaker?.windowFailures, defaults.minFailures);
  });

  it('never trips on a steady 1% error rate at 500 requests/s over 8 instances, not even just after a close', async function () {
    this.timeout(120_000);
    const clock = { now: T0 };
    const group = instances(8, memoryStore().store, clock);
    const draw = seededRandom(20261127);
    const outageUntil = T0 + 5_000;
    // A short outage opens the breaker; after the open interval the probes close it, and from then on the
    // provider fails 1% of its calls at random, starting from the empty window of a close.
    const run = await simulate(group, clock, {
      perSecond: 500,
      seconds: 180,
      fails: (t) => t < outageUntil || draw() < 0.01,
    });
    // 500/s for 180 s, less the 30 s while open.
    assert.ok(run.calls >= 74_000, `${run.calls} calls made`);
    assert.deepEqual(transitions(group), ['closed→open', 'half_open→closed', 'open→half_open']);
  });
});

describe('shared breaker board: with the audit sink failing', () => {
  it('still opens, and logs the lost breaker.opened event at ERROR as a countable line', async () => {
    const clock = { now: T0 };
    const failing = { write: () => Promise.reject(new Error('sink down')) };
    const group = instances(1, memoryStore().store, clock, defaults, { audit: failing });
    const run = await simulate(group, clock, {
      perSecond: 1,
      seconds: 60,
      fails: () => true,
      stopWhenOpen: true,
    });
    assert.notEqual(run.firstRefusedAt, null);
    const lost = group[0]!.logs.filter((l) => l.fields.event === 'audit_write_failed');
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.severity, 'ERROR');
    assert.equal(lost[0]!.fields.eventType, 'breaker.opened');
  });
});

describe('shared breaker board: with the store unreachable or slow', () => {
  it('ages its unwritten counts out with the window: after 10 healthy minutes, five failures still trip it', async function () {
    this.timeout(60_000);
    const clock = { now: T0 };
    const faulty = faultyStore(memoryStore().store);
    const group = instances(1, faulty.store, clock);
    faulty.set('down');
    await simulate(group, clock, { perSecond: 1, seconds: 600, fails: () => false });
    const run = await simulate(group, clock, {
      perSecond: 1,
      seconds: 60,
      fails: () => true,
      stopWhenOpen: true,
    });
    assert.notEqual(run.firstRefusedAt, null, 'opened on its own view');
    assert.equal(
      run.calls,
      defaults.minFailures,
      'on the fifth failure, not after 32 diluted by 600 old successes',
    );
    const { logs } = group[0]!;
    assert.ok(logs.some((l) => l.fields.event === 'breaker_local_transition'));
    assert.equal(logs.filter((l) => l.fields.event === 'breaker_store_unavailable').length, 1);
  });

  it('writes what it kept to the buckets it belongs to, and nothing older than the window, once the store is back', async function () {
    this.timeout(60_000);
    const clock = { now: T0 };
    const memory = memoryStore();
    const faulty = faultyStore(memory.store);
    const group = instances(1, faulty.store, clock);
    faulty.set('down');
    await simulate(group, clock, { perSecond: 1, seconds: 120, fails: () => false });
    faulty.set('up');
    const before = memory.increments.length;
    await group[0]!.board.flush();
    const written = memory.increments.slice(before).flat();
    const oldest = oldestBucketStart(clock.now, defaults);
    const starts = written.map((i) => i.bucketStart);
    assert.ok(written.length > 1, 'one increment per bucket, not one lump');
    assert.equal(new Set(starts).size, starts.length);
    assert.ok(
      starts.every((s) => s >= oldest),
      'nothing from before the window',
    );
    const total = written.reduce((sum, i) => sum + i.counts.requests, 0);
    assert.ok(total <= defaults.windowMs / 1000 + 1, `${total} calls written: at most the window's worth`);
  });

  for (const perSecond of [8, 0.5]) {
    it(`trips on its own view when every store call hangs past its deadline (${perSecond} failing calls/s)`, async function () {
      this.timeout(60_000);
      const clock = { now: T0 };
      const faulty = faultyStore(memoryStore().store);
      const group = instances(1, faulty.store, clock, defaults, { storeDeadlineMs: 5 });
      faulty.set('hang');
      try {
        const run = await simulate(group, clock, {
          perSecond,
          seconds: 60,
          fails: () => true,
          stopWhenOpen: true,
          settle: false,
        });
        assert.notEqual(run.firstRefusedAt, null, 'opened within the minute');
        assert.ok(group[0]!.logs.some((l) => l.fields.event === 'breaker_local_transition'));
      } finally {
        faulty.set('down');
        faulty.release();
        await group[0]!.board.close();
      }
    });
  }
});

describe('breaker settings', () => {
  it('ship the trip rule of the docs: 5% or more, 5 failures, a window 10 s old; huge inputs from 20,000 characters', () => {
    assert.equal(defaults.errorRate, 0.05);
    assert.equal(defaults.minFailures, 5);
    assert.equal(defaults.minWindowMs, 10_000);
    assert.equal(defaults.largeInputChars, 20_000);
  });

  it('take per-provider overrides from ROUTING_CONFIG', () => {
    const routing = {
      providers: {
        slow: {
          kind: 'openai-compatible',
          baseUrl: 'http://127.0.0.1:1/v1',
          breaker: { minFailures: 3, minWindowSeconds: 0, largeInputChars: 5_000 },
        },
      },
      tasks: { 'medication-extraction': { chain: [{ provider: 'slow', model: 'm' }] } },
    };
    const config = loadConfig({ GATEWAY_ENV: 'local', ROUTING_CONFIG: JSON.stringify(routing) });
    const slow = config.breakers.providers.slow!;
    assert.deepEqual([slow.minFailures, slow.minWindowMs, slow.largeInputChars], [3, 0, 5_000]);
  });

  it('refuse the retired BREAKER_MIN_REQUESTS at start, naming it', () => {
    assert.throws(
      () => loadConfig({ GATEWAY_ENV: 'local', BREAKER_MIN_REQUESTS: '100' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('BREAKER_MIN_REQUESTS'),
    );
  });
});
