import assert from 'node:assert/strict';
import {
  type CloudTasksClientLike,
  CloudTasksScheduler,
  type CreateTaskRequest,
} from '../../functions/src/adapters/tasks/cloudTasksScheduler.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import type { TaskRequest } from '../../functions/src/core/scheduling/taskScheduler.js';

/** Records every CreateTask request; answers with `outcome`. */
function recordingClient(outcome: () => Promise<unknown> = async () => [{}]) {
  const calls: { request: CreateTaskRequest; options?: { timeout?: number } }[] = [];
  const client: CloudTasksClientLike = {
    createTask: async (request, options) => {
      calls.push({ request, ...(options ? { options } : {}) });
      return outcome();
    },
  };
  return { client, calls };
}

const settings = {
  project: 'clinical-prod',
  location: 'europe-west4',
  queues: { deadlines: 'review-deadlines', callbacks: 'review-callbacks' },
  dispatchDeadlineSeconds: 30,
  requestTimeoutMs: 1_500,
};

const deadlineTask: TaskRequest = {
  queue: 'deadlines',
  name: 'deadline-rev_AbC-12_x',
  url: 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs/tasks/review-deadline',
  body: { reviewId: 'rev_AbC-12_x' },
  scheduleAt: new Date('2026-11-27T13:00:00.250Z'),
  oidc: {
    serviceAccountEmail: 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com',
    audience: 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs',
  },
};

describe('CloudTasksScheduler', () => {
  it('builds the exact Cloud Tasks task: named, scheduled, HTTP POST of JSON with an OIDC token', async () => {
    const { client, calls } = recordingClient();
    const outcome = await new CloudTasksScheduler(client, settings).schedule(deadlineTask);
    assert.equal(outcome, 'scheduled');
    assert.equal(calls.length, 1);
    const parent = 'projects/clinical-prod/locations/europe-west4/queues/review-deadlines';
    assert.deepEqual(calls[0]!.request, {
      parent,
      task: {
        name: `${parent}/tasks/deadline-rev_AbC-12_x`,
        scheduleTime: { seconds: 1_795_784_400, nanos: 250_000_000 },
        dispatchDeadline: { seconds: 30 },
        httpRequest: {
          httpMethod: 'POST',
          url: 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs/tasks/review-deadline',
          headers: { 'Content-Type': 'application/json' },
          body: Buffer.from('{"reviewId":"rev_AbC-12_x"}', 'utf8'),
          oidcToken: {
            serviceAccountEmail: 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com',
            audience: 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs',
          },
        },
      },
    });
    assert.deepEqual(calls[0]!.options, { timeout: 1_500 });
  });

  it('puts callbacks on the callback queue, and omits the token when none is asked for', async () => {
    const { client, calls } = recordingClient();
    await new CloudTasksScheduler(client, settings).schedule({
      ...deadlineTask,
      queue: 'callbacks',
      name: 'callback-rev_1',
      url: 'https://ehr.example.org/hooks/inference',
      body: { id: 'inf_1', status: 'completed' },
      oidc: null,
    });
    const task = calls[0]!.request.task!;
    assert.equal(
      calls[0]!.request.parent,
      'projects/clinical-prod/locations/europe-west4/queues/review-callbacks',
    );
    assert.equal(task.name, `${calls[0]!.request.parent}/tasks/callback-rev_1`);
    assert.equal(task.httpRequest?.oidcToken, undefined);
    assert.deepEqual(JSON.parse(Buffer.from(task.httpRequest!.body as Uint8Array).toString('utf8')), {
      id: 'inf_1',
      status: 'completed',
    });
  });

  it('treats ALREADY_EXISTS as the same task scheduled before (deduplication by name)', async () => {
    const { client } = recordingClient(async () => {
      throw Object.assign(new Error('6 ALREADY_EXISTS: Requested entity already exists'), { code: 6 });
    });
    assert.equal(await new CloudTasksScheduler(client, settings).schedule(deadlineTask), 'already_scheduled');
  });

  it('turns any other failure into a retryable DependencyUnavailableError without its message', async () => {
    const { client } = recordingClient(async () => {
      throw Object.assign(new Error('14 UNAVAILABLE: connection reset'), { code: 14 });
    });
    await assert.rejects(new CloudTasksScheduler(client, settings).schedule(deadlineTask), (e: unknown) => {
      assert.ok(isGatewayError(e, 'dependency_unavailable'));
      assert.doesNotMatch(e.message, /UNAVAILABLE|reset/);
      return true;
    });
  });

  it('refuses a task name Cloud Tasks would reject, before calling it', async () => {
    const { client, calls } = recordingClient();
    const scheduler = new CloudTasksScheduler(client, settings);
    await assert.rejects(scheduler.schedule({ ...deadlineTask, name: 'deadline/rev 1' }));
    assert.equal(calls.length, 0);
  });
});
