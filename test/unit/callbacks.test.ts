import assert from 'node:assert/strict';
import {
  type CloudTasksClientLike,
  CloudTasksScheduler,
  type CreateTaskRequest,
} from '../../functions/src/adapters/tasks/cloudTasksScheduler.js';
import { StandardWebhookSender } from '../../functions/src/adapters/webhooks/standardWebhookSender.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import type { InferenceRecord } from '../../functions/src/core/inference/inference.js';
import {
  CallbackDelivery,
  CallbackOrigins,
  type WebhookMessage,
} from '../../functions/src/core/review/callbacks.js';
import { OutboxRelay, outboxEntry } from '../../functions/src/core/review/outbox.js';
import type { ReviewPublisher } from '../../functions/src/core/review/reviewPublisher.js';

describe('callback origins (per-tenant allowlist)', () => {
  const origins = new CallbackOrigins({
    'st-marys': ['https://ehr.st-marys.example', 'https://hooks.st-marys.example:8443'],
    empty: [],
  });

  for (const [given, stored] of [
    ['https://ehr.st-marys.example/hooks', 'https://ehr.st-marys.example/hooks'],
    ['HTTPS://EHR.St-Marys.example:443/a/../hooks?x=1#frag', 'https://ehr.st-marys.example/hooks?x=1#frag'],
    ['https://hooks.st-marys.example:8443', 'https://hooks.st-marys.example:8443/'],
    ['https://ehr.st-marys.example/%7Efoo/é', 'https://ehr.st-marys.example/%7Efoo/%C3%A9'],
  ]) {
    it(`stores ${given} as ${stored}`, () => {
      assert.equal(origins.normalise('st-marys', given!), stored);
    });
  }

  for (const [tenant, url, why] of [
    ['st-marys', 'https://evil.example/hooks', 'another host'],
    ['st-marys', 'https://ehr.st-marys.example.evil.example/hooks', 'a suffix of the host'],
    ['st-marys', 'http://ehr.st-marys.example/hooks', 'another scheme'],
    ['st-marys', 'https://ehr.st-marys.example:444/hooks', 'another port'],
    ['st-marys', 'https://hooks.st-marys.example/hooks', 'the default port of an origin with its own'],
    ['st-marys', 'https://user:pw@ehr.st-marys.example/hooks', 'credentials'],
    ['st-marys', 'not a url', 'no URL'],
    ['general', 'https://ehr.st-marys.example/hooks', 'another tenant'],
    ['empty', 'https://ehr.st-marys.example/hooks', 'a tenant with no origins'],
  ] as const) {
    it(`refuses ${why} with 422`, () => {
      assert.equal(origins.allows(tenant, url), false);
      assert.throws(
        () => origins.normalise(tenant, url),
        (e: unknown) => isGatewayError(e, 'unprocessable'),
      );
    });
  }
});

describe('the callback task (outbox → Cloud Tasks)', () => {
  it('targets review jobs with our identity and names the review only: the caller’s URL is no task target', async () => {
    const calls: CreateTaskRequest[] = [];
    const client: CloudTasksClientLike = {
      createTask: async (request) => {
        calls.push(request);
        return [{}];
      },
    };
    const jobs = 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs';
    const oidc = {
      serviceAccountEmail: 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com',
      audience: jobs,
    };
    const relay = new OutboxRelay({
      store: {
        listUndelivered: async () => [],
        markDelivered: async () => undefined,
        recordFailure: async () => undefined,
        undeliveredEventsOf: async () => [],
      },
      publisher: {} as ReviewPublisher,
      scheduler: new CloudTasksScheduler(client, {
        project: 'clinical-prod',
        location: 'europe-west4',
        queues: { deadlines: 'review-deadlines', callbacks: 'review-callbacks' },
        dispatchDeadlineSeconds: 30,
        requestTimeoutMs: 1_500,
      }),
      callbackJob: { url: `${jobs}/tasks/review-callback`, oidc },
      deliveryTimeoutMs: 1_000,
      clock: () => Date.parse('2026-11-27T13:00:00Z'),
    });
    const callbackUrl = 'https://ehr.st-marys.example/hooks';
    const entry = outboxEntry.callback(
      { id: 'rev_AbC', inferenceId: 'inf_AbC', tenant: 'st-marys' },
      callbackUrl,
      new Date('2026-11-27T13:00:00Z'),
    );
    assert.equal(await relay.deliver(entry), true);
    assert.equal(calls.length, 1);
    const http = calls[0]!.task!.httpRequest!;
    assert.equal(http.url, `${jobs}/tasks/review-callback`);
    assert.deepEqual(http.oidcToken, oidc);
    assert.deepEqual(JSON.parse(Buffer.from(http.body as Buffer).toString('utf8')), { reviewId: 'rev_AbC' });
    assert.doesNotMatch(JSON.stringify(calls[0]), /st-marys\.example/);
    assert.match(String(calls[0]!.task!.name), /\/queues\/review-callbacks\/tasks\/callback-rev_AbC$/);
  });
});

describe('callback delivery (review jobs)', () => {
  const inference = (callbackUrl: string | null) =>
    ({
      id: 'inf_AbC',
      tenant: 'st-marys',
      status: 'completed',
      task: 'medication-extraction',
      output: { medications: [] },
      confidence: 0.5,
      threshold: 0.8,
      provider: 'local-a',
      model: 'm',
      review: {
        state: 'approved',
        reviewer: 'rita',
        reasonCode: null,
        decidedAt: new Date('2026-11-27T13:00:00Z'),
      },
      createdAt: new Date('2026-11-27T12:00:00Z'),
      completedAt: new Date('2026-11-27T13:00:00Z'),
      callbackUrl,
    }) as unknown as InferenceRecord;

  function delivery(record: InferenceRecord | null, status = 204) {
    const sent: WebhookMessage[] = [];
    const callbacks = new CallbackDelivery({
      inferences: { getInference: async (id) => (record && id === record.id ? record : null) },
      origins: new CallbackOrigins({ 'st-marys': ['https://ehr.st-marys.example'] }),
      sender: {
        send: async (message) => {
          sent.push(message);
          return status;
        },
      },
    });
    return { callbacks, sent };
  }

  it('sends the resource under one message id per review', async () => {
    const { callbacks, sent } = delivery(inference('https://ehr.st-marys.example/hooks'));
    assert.equal(await callbacks.deliver('rev_AbC'), 'delivered');
    assert.equal(sent.length, 1);
    assert.deepEqual(
      { ...sent[0], body: undefined },
      {
        tenant: 'st-marys',
        url: 'https://ehr.st-marys.example/hooks',
        id: 'msg_rev_AbC',
        body: undefined,
      },
    );
    assert.equal(JSON.parse(sent[0]!.body).id, 'inf_AbC');
  });

  it('sends nothing for an origin no longer allowed, an inference without callback, or none at all', async () => {
    for (const [record, outcome] of [
      [inference('https://removed.example/hooks'), 'refused'],
      [inference(null), 'none'],
      [null, 'none'],
    ] as const) {
      const { callbacks, sent } = delivery(record);
      assert.equal(await callbacks.deliver('rev_AbC'), outcome);
      assert.equal(sent.length, 0);
    }
  });

  for (const status of [301, 400, 500, 503]) {
    it(`a receiver answering ${status} is retried (503 to Cloud Tasks)`, async () => {
      const { callbacks } = delivery(inference('https://ehr.st-marys.example/hooks'), status);
      await assert.rejects(callbacks.deliver('rev_AbC'), (e: unknown) =>
        isGatewayError(e, 'dependency_unavailable'),
      );
    });
  }

  it('never sends a callback unsigned: a tenant without a secret is a retryable failure, and nothing leaves', async () => {
    let fetched = 0;
    const realFetch = globalThis.fetch;
    globalThis.fetch = async () => {
      fetched++;
      return new Response(null, { status: 204 });
    };
    try {
      const sender = new StandardWebhookSender({ secrets: {}, timeoutMs: 1_000 });
      await assert.rejects(
        sender.send({
          tenant: 'st-marys',
          url: 'https://ehr.st-marys.example/hooks',
          id: 'msg_x',
          body: '{}',
        }),
        (e: unknown) => isGatewayError(e, 'dependency_unavailable'),
      );
      assert.equal(fetched, 0);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
