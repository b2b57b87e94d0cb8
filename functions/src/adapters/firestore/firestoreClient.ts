import { Firestore, Timestamp } from '@google-cloud/firestore';

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
export const grpcCode = { ALREADY_EXISTS: 6, NOT_FOUND: 5, FAILED_PRECONDITION: 9, ABORTED: 10 } as const;

export const hasCode = (e: unknown, code: number): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
