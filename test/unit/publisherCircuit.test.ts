import assert from 'node:assert/strict';
import { isGatewayError } from '../../functions/src/core/errors.js';
import { PublisherCircuit } from '../../functions/src/core/review/publisherCircuit.js';
import type { ReviewPublisher } from '../../functions/src/core/review/reviewPublisher.js';

const message = { schemaVersion: 1 as const, inferenceId: 'inf_x', tenant: 't' };

function fakePublisher() {
  const state = { fail: false, hang: false, calls: 0 };
  const publisher: ReviewPublisher = {
    async requestReview() {
      state.calls++;
      if (state.hang) return new Promise<void>(() => undefined);
      if (state.fail) throw new Error('unavailable');
    },
    async escalate() {
      state.calls++;
    },
    async publishEvent() {
      state.calls++;
    },
  };
  return { state, publisher };
}

describe('PublisherCircuit', () => {
  let now = 0;
  const settings = { failureThreshold: 2, probeAfterMs: 1_000, timeoutMs: 20, clock: () => now };
  beforeEach(() => {
    now = 0;
  });

  it('opens after the threshold of failures in a row and then refuses without publishing', async () => {
    const { state, publisher } = fakePublisher();
    const circuit = new PublisherCircuit(publisher, settings);
    state.fail = true;
    await assert.rejects(circuit.requestReview(message, { task: 'x' }));
    assert.equal(circuit.state, 'closed');
    await assert.rejects(circuit.requestReview(message, { task: 'x' }));
    assert.equal(circuit.state, 'open');
    await assert.rejects(circuit.requestReview(message, { task: 'x' }), (e: unknown) =>
      isGatewayError(e, 'dependency_unavailable'),
    );
    assert.equal(state.calls, 2);
  });

  it('lets one probe through after probeAfterMs: success closes, failure opens again', async () => {
    const { state, publisher } = fakePublisher();
    const circuit = new PublisherCircuit(publisher, { ...settings, failureThreshold: 1 });
    state.fail = true;
    await assert.rejects(circuit.requestReview(message, { task: 'x' }));
    now = 1_000;
    assert.equal(circuit.admitsPublish, true);
    await assert.rejects(circuit.requestReview(message, { task: 'x' }));
    assert.equal(circuit.state, 'open');
    assert.equal(circuit.admitsPublish, false);
    now = 2_000;
    state.fail = false;
    await circuit.requestReview(message, { task: 'x' });
    assert.equal(circuit.state, 'closed');
    assert.equal(state.calls, 3);
  });

  it('a probe that hangs settles at the timeout, and only one probe is in flight', async () => {
    const { state, publisher } = fakePublisher();
    const circuit = new PublisherCircuit(publisher, { ...settings, failureThreshold: 1 });
    state.hang = true;
    await assert.rejects(circuit.requestReview(message, { task: 'x' }));
    now = 1_000;
    const probe = circuit.requestReview(message, { task: 'x' });
    assert.equal(circuit.state, 'half_open');
    await assert.rejects(circuit.requestReview(message, { task: 'x' }));
    await assert.rejects(probe);
    assert.equal(circuit.state, 'open');
    assert.equal(state.calls, 2);
  });
});
