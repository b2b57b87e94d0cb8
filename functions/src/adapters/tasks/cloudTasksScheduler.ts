import type { protos } from '@google-cloud/tasks';
import { asDependencyFailure } from '../../core/errors.js';
import {
  type ScheduleOutcome,
  type TaskQueue,
  type TaskRequest,
  type TaskScheduler,
  taskNamePattern,
} from '../../core/scheduling/taskScheduler.js';

export type CreateTaskRequest = protos.google.cloud.tasks.v2.ICreateTaskRequest;

/** The part of `CloudTasksClient` we use; tests pass a recording fake. */
export type CloudTasksClientLike = {
  createTask(request: CreateTaskRequest, options?: { timeout?: number }): Promise<unknown>;
};

export type CloudTasksSettings = {
  project: string;
  location: string;
  /** Queue name per logical queue (Terraform creates them with their retry policies). */
  queues: Record<TaskQueue, string>;
  /** How long one call may take per attempt (Cloud Tasks: 15 s to 30 min). */
  dispatchDeadlineSeconds: number;
  /** How long we wait for Cloud Tasks to accept a task. */
  requestTimeoutMs: number;
};

const ALREADY_EXISTS = 6;

/**
 * Schedules tasks on Cloud Tasks: an HTTP POST of a JSON body at `scheduleAt`, with an OIDC token, retried by
 * the queue's retry policy. The task id is the request's name, so Cloud Tasks itself deduplicates a task
 * scheduled twice (it answers ALREADY_EXISTS while the task exists and for a while after it ran).
 */
export class CloudTasksScheduler implements TaskScheduler {
  constructor(
    private readonly client: CloudTasksClientLike,
    private readonly settings: CloudTasksSettings,
  ) {}

  async schedule(task: TaskRequest): Promise<ScheduleOutcome> {
    const request = this.buildRequest(task);
    try {
      await this.client.createTask(request, { timeout: this.settings.requestTimeoutMs });
      return 'scheduled';
    } catch (e) {
      if ((e as { code?: unknown } | null)?.code === ALREADY_EXISTS) return 'already_scheduled';
      throw asDependencyFailure('Cloud Tasks', e);
    }
  }

  /** The exact CreateTask request for `task`. */
  buildRequest(task: TaskRequest): CreateTaskRequest {
    if (!taskNamePattern.test(task.name)) throw new Error('invalid task name');
    const { project, location } = this.settings;
    const parent = `projects/${project}/locations/${location}/queues/${this.settings.queues[task.queue]}`;
    const at = task.scheduleAt.getTime();
    return {
      parent,
      task: {
        name: `${parent}/tasks/${task.name}`,
        scheduleTime: { seconds: Math.floor(at / 1000), nanos: (at % 1000) * 1_000_000 },
        dispatchDeadline: { seconds: this.settings.dispatchDeadlineSeconds },
        httpRequest: {
          httpMethod: 'POST',
          url: task.url,
          headers: { 'Content-Type': 'application/json' },
          body: Buffer.from(JSON.stringify(task.body), 'utf8'),
          ...(task.oidc
            ? {
                oidcToken: {
                  serviceAccountEmail: task.oidc.serviceAccountEmail,
                  audience: task.oidc.audience,
                },
              }
            : {}),
        },
      },
    };
  }
}
