import { FieldValue, type Firestore, type Timestamp } from '@google-cloud/firestore';
import { type Clock, dateClock, systemClock } from '../../core/clock.js';
import { asDependencyFailure } from '../../core/errors.js';
import { type Backoff, backoffDelayMs } from '../../core/retry.js';
import type { ScheduleOutcome, TaskRequest, TaskScheduler } from '../../core/scheduling/taskScheduler.js';
import { refuseOnCloudRun } from '../auth/cloudRunGuard.js';
import { devOidcToken } from '../auth/serviceCallerAuthenticator.js';
import { collections, grpcCode, hasCode, revive } from '../firestore/firestoreClient.js';

/**
 * The local stand-in for Cloud Tasks, used when TASKS_MODE=local (the default of `npm start` and the tests).
 *
 * `LocalTaskScheduler` stores each task as `localTasks/{queue}.{name}` in Firestore (the emulator, locally):
 * a task survives restarts of every process, and a name scheduled twice is one task, as with Cloud Tasks.
 * `LocalTaskRunner` (run by the local stack's poller) performs due tasks: an HTTP POST of the JSON body with
 * Cloud Tasks' request headers, a dispatch deadline, and retries with capped exponential backoff until a 2xx
 * answer or the last attempt. Where Cloud Tasks would attach an OIDC token, it sends the local development
 * token `dev-oidc:<service account>`, which reviewJobs accepts in dev auth mode only.
 *
 * Task document:  nextAttemptAt ──(due: claimed, attempts+1)──▶ POST ──2xx──▶ state succeeded
 *                       ▲                                          │
 *                       └──── not 2xx, attempts left: backoff ◀────┴── last attempt failed ──▶ state failed
 * `nextAttemptAt` exists only while the task still has to run, so the due query skips finished tasks.
 */

export class LocalTaskScheduler implements TaskScheduler {
  constructor(
    private readonly db: Firestore,
    private readonly options: { clock?: Clock } = {},
  ) {
    refuseOnCloudRun('TASKS_MODE=local (the local task scheduler)');
  }

  async schedule(task: TaskRequest): Promise<ScheduleOutcome> {
    const now = new Date((this.options.clock ?? systemClock)());
    try {
      await this.db
        .collection(collections.localTasks)
        .doc(`${task.queue}.${task.name}`)
        .create({
          queue: task.queue,
          name: task.name,
          url: task.url,
          bodyJson: JSON.stringify(task.body),
          oidc: task.oidc,
          scheduleAt: task.scheduleAt,
          nextAttemptAt: task.scheduleAt,
          state: 'scheduled',
          attempts: 0,
          lastStatus: null,
          lastError: null,
          createdAt: now,
          finishedAt: null,
        });
      return 'scheduled';
    } catch (e) {
      if (hasCode(e, grpcCode.ALREADY_EXISTS)) return 'already_scheduled';
      throw asDependencyFailure('local task scheduler', e);
    }
  }
}

export type LocalTaskRunnerOptions = {
  clock?: Clock;
  /** Attempts before a task is given up (state `failed`). Default 10. */
  maxAttempts?: number;
  /** Wait before attempt n+1 after n failures. Default 1 s doubling to 60 s. */
  backoff?: Backoff;
  /** How long one call may take. Default 30 s, as the Cloud Tasks queues. */
  dispatchDeadlineMs?: number;
  /** Tasks claimed per poll. Default 20. */
  batchSize?: number;
  log?: (severity: 'INFO' | 'WARNING' | 'ERROR', message: string, fields: Record<string, unknown>) => void;
};

export type RunResult = { attempted: number; succeeded: number; retrying: number; failed: number };

type StoredTask = {
  queue: string;
  name: string;
  url: string;
  bodyJson: string;
  oidc: { serviceAccountEmail: string; audience: string } | null;
  attempts: number;
};

export class LocalTaskRunner {
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly backoff: Backoff;
  private readonly dispatchDeadlineMs: number;
  private readonly batchSize: number;

  constructor(
    private readonly db: Firestore,
    private readonly options: LocalTaskRunnerOptions = {},
  ) {
    refuseOnCloudRun('the local task runner');
    this.now = dateClock(options.clock);
    this.maxAttempts = options.maxAttempts ?? 10;
    this.backoff = options.backoff ?? { minMs: 1_000, maxMs: 60_000 };
    this.dispatchDeadlineMs = options.dispatchDeadlineMs ?? 30_000;
    this.batchSize = options.batchSize ?? 20;
  }

  /** Performs every task due now (one attempt each), and resolves when they have all answered. */
  async runDue(): Promise<RunResult> {
    const now = this.now();
    const due = await this.db
      .collection(collections.localTasks)
      .where('nextAttemptAt', '<=', now)
      .orderBy('nextAttemptAt')
      .limit(this.batchSize)
      .get();
    const outcomes = await Promise.all(due.docs.map((doc) => this.attempt(doc.id)));
    const result: RunResult = { attempted: 0, succeeded: 0, retrying: 0, failed: 0 };
    for (const outcome of outcomes) {
      if (outcome === 'skipped') continue;
      result.attempted++;
      result[outcome]++;
    }
    return result;
  }

  /** Polls every `intervalMs` until the returned `stop` is called (which waits for the current poll). */
  start(intervalMs: number): { stop(): Promise<void> } {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let current: Promise<unknown> = Promise.resolve();
    const tick = () => {
      current = this.runDue()
        .catch((e: unknown) =>
          this.options.log?.('WARNING', 'local task poll failed', {
            error: e instanceof Error ? e.name : 'unknown',
          }),
        )
        .finally(() => {
          if (!stopped) timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
    return {
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        await current;
      },
    };
  }

  private async attempt(id: string): Promise<'skipped' | 'succeeded' | 'retrying' | 'failed'> {
    const ref = this.db.collection(collections.localTasks).doc(id);
    const claimedAt = this.now();
    let task: StoredTask;
    let claimTime: Timestamp;
    try {
      const snap = await ref.get();
      const data = snap.exists ? revive<StoredTask & { nextAttemptAt?: Date }>(snap.data()) : null;
      if (!data?.nextAttemptAt || data.nextAttemptAt > claimedAt) return 'skipped';
      // Claim: push the next attempt past this one's deadline, so that another poller (or this one after a
      // crash) retries only if this attempt never reports back. Guarded by the update time we read.
      const write = await ref.update(
        {
          attempts: data.attempts + 1,
          nextAttemptAt: new Date(claimedAt.getTime() + this.dispatchDeadlineMs + 5_000),
        },
        { lastUpdateTime: snap.updateTime! },
      );
      task = { ...data, attempts: data.attempts + 1 };
      claimTime = write.writeTime;
    } catch (e) {
      if (hasCode(e, grpcCode.FAILED_PRECONDITION) || hasCode(e, grpcCode.NOT_FOUND)) return 'skipped';
      throw e;
    }

    const answer = await this.call(task);
    const finishedAt = this.now();
    const fields = { queue: task.queue, task: task.name, attempt: task.attempts, status: answer.status };
    let update: Record<string, unknown>;
    let outcome: 'succeeded' | 'retrying' | 'failed';
    if (answer.ok) {
      outcome = 'succeeded';
      update = { state: 'succeeded', nextAttemptAt: FieldValue.delete(), finishedAt };
    } else if (task.attempts >= this.maxAttempts) {
      outcome = 'failed';
      update = { state: 'failed', nextAttemptAt: FieldValue.delete(), finishedAt };
      this.options.log?.('ERROR', 'local task failed its last attempt; giving up', fields);
    } else {
      outcome = 'retrying';
      const delay = backoffDelayMs(task.attempts, this.backoff);
      update = { nextAttemptAt: new Date(finishedAt.getTime() + delay) };
      this.options.log?.('WARNING', 'local task attempt failed; retrying', { ...fields, retryInMs: delay });
    }
    try {
      await ref.update(
        { ...update, lastStatus: answer.status, lastError: answer.error },
        { lastUpdateTime: claimTime },
      );
    } catch (e) {
      // Someone else took the task over after our deadline; their attempt counts.
      if (!hasCode(e, grpcCode.FAILED_PRECONDITION)) throw e;
    }
    return outcome;
  }

  private async call(
    task: StoredTask,
  ): Promise<{ ok: boolean; status: number | null; error: string | null }> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      // The headers Cloud Tasks sets, so a target can log and deduplicate the same way in both worlds.
      'X-CloudTasks-QueueName': task.queue,
      'X-CloudTasks-TaskName': task.name,
      'X-CloudTasks-TaskRetryCount': String(task.attempts - 1),
    };
    if (task.oidc) headers.Authorization = `Bearer ${devOidcToken(task.oidc.serviceAccountEmail)}`;
    try {
      const response = await fetch(task.url, {
        method: 'POST',
        headers,
        body: task.bodyJson,
        signal: AbortSignal.timeout(this.dispatchDeadlineMs),
        redirect: 'manual',
      });
      await response.body?.cancel();
      return { ok: response.status >= 200 && response.status < 300, status: response.status, error: null };
    } catch (e) {
      return { ok: false, status: null, error: fetchFailure(e) };
    }
  }
}

/** Why a local call to a function got no answer: its deadline passed, or the function was not reached. */
export function fetchFailure(e: unknown): 'deadline exceeded' | 'unreachable' {
  return e instanceof Error && e.name === 'TimeoutError' ? 'deadline exceeded' : 'unreachable';
}
