import { Firestore, Timestamp, type Transaction } from '@google-cloud/firestore';
import { DependencyUnavailableError } from '../../core/errors.js';
import { withTimeout } from '../../core/retry.js';

/** Collection names: the single source of truth, shared with Terraform's index and TTL definitions. */
export const collections = {
  idempotencyKeys: 'idempotencyKeys',
  inferences: 'inferences',
  reviews: 'reviews',
  reviewOutbox: 'reviewOutbox',
  /** Tasks of the local stand-in for Cloud Tasks (TASKS_MODE=local only; never used in production). */
  localTasks: 'localTasks',
  breakers: 'breakers',
  breakerBuckets: 'breakerBuckets',
  /** Pending copies of committed audit events not yet known to be in the sink (core/audit/pendingAudit.ts). */
  auditPending: 'auditPending',
} as const;

/**
 * The timestamp field a Firestore TTL policy deletes a collection's documents by. The policies themselves
 * are Terraform's (terraform/firestore.tf); test/terraform checks that they name these fields and that the
 * stores write them.
 */
export const ttlFields = {
  idempotencyKeys: 'expiresAt',
  breakerBuckets: 'expiresAt',
  reviewOutbox: 'expiresAt',
  auditPending: 'expiresAt',
} as const satisfies Partial<Record<keyof typeof collections, string>>;

/**
 * One Firestore client per process. With FIRESTORE_EMULATOR_HOST set, the SDK talks to the emulator.
 */
export function createFirestore(projectId: string): Firestore {
  return new Firestore({ projectId, ignoreUndefinedProperties: true });
}

/** Firestore gives Timestamps back where we stored Dates; turn them into Dates again. */
export function revive<T>(value: unknown): T {
  if (value instanceof Timestamp) return value.toDate() as T;
  if (Array.isArray(value)) return value.map((v) => revive(v)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)])) as T;
  }
  return value as T;
}

/** gRPC status codes the adapters branch on. */
export const grpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
} as const;

export const hasCode = (e: unknown, code: number): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;

/** An answer of Firestore (an RPC's or a write's gRPC status), rather than a failure of the client itself. */
export const hasStatus = (e: unknown): e is { code: number } =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number';

/** The deadline of stores built without one (tests); the gateway passes FIRESTORE_DEADLINE_MS. */
export const DEFAULT_FIRESTORE_DEADLINE_MS = 2_000;

export type DeadlineOptions = { deadlineMs?: number };

/** What a caller waiting on a stalled Firestore is told to wait before retrying. */
const STALLED_RETRY_AFTER_SECONDS = 2;

/**
 * A client's first call also opens its channel (and, in production, fetches a token): until a client has
 * answered once, its calls get this much longer, so that a cold start is not mistaken for a stall.
 */
const COLD_CLIENT_DEADLINE_MS = 10_000;
const answeredOnce = new WeakSet<Firestore>();

/**
 * Calls past their deadline that Firestore has not answered yet, per client. Past this many, new calls fail
 * at once instead of joining them: during a long stall every retry would otherwise leave one more call in
 * the SDK (which opens another channel per 100 of them), and an instance grew to 2.7 GB in a 70 s stall.
 * Calls flow again as soon as the abandoned ones settle (Firestore answers, or the SDK gives up).
 */
const MAX_ABANDONED_CALLS = 100;
const abandonedCalls = new WeakMap<Firestore, number>();

/**
 * Bounds one call of `db` on the request path: after `deadlineMs` the caller gets a retryable
 * `DependencyUnavailableError` (503 + Retry-After) naming `store`, instead of waiting out the SDK's own 60 s.
 * The call itself is abandoned, not cancelled, so a write may still apply later: the ledger releases an
 * orphaned claim, and the audited commit reads the chain head back (core/audit/auditTrail.ts).
 */
export function withDeadline<T>(
  db: Firestore,
  call: () => Promise<T>,
  deadlineMs: number,
  store: string,
): Promise<T> {
  // A stalled Firestore already holds enough of our calls: fail at once, without one more.
  if ((abandonedCalls.get(db) ?? 0) >= MAX_ABANDONED_CALLS) {
    return Promise.reject(
      new DependencyUnavailableError(store, STALLED_RETRY_AFTER_SECONDS, {
        cause: new FirestoreStalledError(),
      }),
    );
  }
  return boundCall(db, call(), deadlineMs, store);
}

/** The deadline alone, for a call already started (a read inside a transaction). */
function boundCall<T>(db: Firestore, work: Promise<T>, deadlineMs: number, store: string): Promise<T> {
  const ms = answeredOnce.has(db) ? deadlineMs : Math.max(deadlineMs, COLD_CLIENT_DEADLINE_MS);
  let settled = false;
  work.then(
    () => {
      settled = true;
      answeredOnce.add(db);
    },
    () => {
      settled = true;
    },
  );
  return withTimeout(work, ms, () => {
    if (!settled) {
      abandonedCalls.set(db, (abandonedCalls.get(db) ?? 0) + 1);
      const release = () => abandonedCalls.set(db, Math.max(0, (abandonedCalls.get(db) ?? 1) - 1));
      work.then(release, release);
    }
    return new DependencyUnavailableError(store, STALLED_RETRY_AFTER_SECONDS, {
      cause: new FirestoreDeadlineError(ms),
    });
  });
}

/** The cause of a 503 without a call: earlier calls are still unanswered past their deadline. */
export class FirestoreStalledError extends Error {
  override readonly name = 'FirestoreStalledError';
  constructor() {
    super(`${MAX_ABANDONED_CALLS} Firestore calls are still unanswered past their deadline`);
  }
}

/**
 * A transaction's attempts may legitimately take longer than one call's deadline in all (under contention
 * the SDK backs off 1 s and more between them), so it is bounded twice: each read inside it by the deadline
 * (a stalled read fails the whole transaction at once, without waiting for the SDK's rollback, which would
 * wait on that read), and the whole by this many deadlines (a commit that stalls).
 */
const TRANSACTION_DEADLINES = 5;

export function runBoundedTransaction<T>(
  db: Firestore,
  deadlineMs: number,
  store: string,
  attempt: (tx: Transaction, read: <R>(work: Promise<R>) => Promise<R>) => Promise<T>,
): Promise<T> {
  let stalled: (error: unknown) => void = () => undefined;
  const stall = new Promise<never>((_, reject) => {
    stalled = reject;
  });
  const read = <R>(work: Promise<R>): Promise<R> =>
    boundCall(db, work, deadlineMs, store).catch((error: unknown) => {
      if (error instanceof DependencyUnavailableError) stalled(error);
      throw error;
    });
  return withDeadline(
    db,
    () => Promise.race([db.runTransaction((tx) => attempt(tx, read)), stall]),
    deadlineMs * TRANSACTION_DEADLINES,
    store,
  );
}

/**
 * What every Firestore store shares: its client and its deadline, and the store name that a 503 from a stalled
 * call names. A store's calls go through `bounded` (one call) or `transaction` (a bounded transaction).
 */
export abstract class BoundedStore {
  protected readonly deadlineMs: number;

  protected constructor(
    protected readonly db: Firestore,
    private readonly storeName: string,
    options: DeadlineOptions,
  ) {
    this.deadlineMs = options.deadlineMs ?? DEFAULT_FIRESTORE_DEADLINE_MS;
  }

  protected bounded<T>(call: () => Promise<T>): Promise<T> {
    return withDeadline(this.db, call, this.deadlineMs, this.storeName);
  }

  protected transaction<T>(
    attempt: (tx: Transaction, read: <R>(work: Promise<R>) => Promise<R>) => Promise<T>,
  ): Promise<T> {
    return runBoundedTransaction(this.db, this.deadlineMs, this.storeName, attempt);
  }
}

/** The cause of a deadline's 503: Firestore did not answer in time (the outcome of a write is unknown). */
export class FirestoreDeadlineError extends Error {
  override readonly name = 'FirestoreDeadlineError';
  constructor(readonly deadlineMs: number) {
    super(`Firestore did not answer within ${deadlineMs} ms`);
  }
}
