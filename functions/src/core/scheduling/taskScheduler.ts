/**
 * Deferred HTTP calls: review deadline checks and decision callbacks. Production: Cloud Tasks
 * (adapters/tasks/cloudTasksScheduler.ts). Locally: a Firestore-backed scheduler with the same semantics
 * (adapters/tasks/localTaskScheduler.ts). Delivery is at least once, with retries and backoff, so every
 * target must be idempotent.
 */

/** Logical queues; the adapters map them to the configured queue names. */
export type TaskQueue = 'deadlines' | 'callbacks';

/** Cloud Tasks task ids: letters, digits, hyphens and underscores, at most 500. */
export const taskNamePattern = /^[A-Za-z0-9_-]{1,500}$/;

export type TaskRequest = {
  queue: TaskQueue;
  /**
   * Unique per queue, derived from what the task is about (e.g. `deadline-<reviewId>`): scheduling the same
   * name twice creates one task, so a retried caller never doubles a task.
   */
  name: string;
  /** The task POSTs `body` as JSON to this URL. */
  url: string;
  body: unknown;
  scheduleAt: Date;
  /** The identity the call carries (an OIDC ID token for `audience`), or null for none. */
  oidc: { serviceAccountEmail: string; audience: string } | null;
};

export type ScheduleOutcome = 'scheduled' | 'already_scheduled';

export interface TaskScheduler {
  /** Resolves once the task is durably scheduled. Throws `DependencyUnavailableError` if it could not be. */
  schedule(task: TaskRequest): Promise<ScheduleOutcome>;
}
