import type {
  DocumentData,
  DocumentReference,
  DocumentSnapshot,
  Firestore,
  Timestamp,
  WriteBatch,
  WriteResult,
} from '@google-cloud/firestore';
import { grpcCode, hasStatus } from './firestoreClient.js';

/** One write of an atomic commit: a create, or an update conditioned on the document's update time. */
export type CommitWrite =
  | { kind: 'create'; ref: DocumentReference; data: DocumentData }
  | { kind: 'update'; ref: DocumentReference; data: DocumentData; lastUpdateTime: Timestamp };

/**
 * Most writes one Commit carries (Firestore allows 500): enough to share a call among the completions of a
 * busy turn, few enough that a refused commit sends only a few others again.
 */
const MAX_WRITES_PER_COMMIT = 100;

/** gRPC statuses that refuse a whole Commit, with nothing applied, because of one of its writes. */
const REFUSED_FOR_ONE_WRITE = new Set<number>([
  grpcCode.INVALID_ARGUMENT, // a document or the call too large
  grpcCode.NOT_FOUND, // an update's document is gone
  grpcCode.ALREADY_EXISTS, // a create's document exists
  grpcCode.FAILED_PRECONDITION, // an update's document changed since the version it names
  grpcCode.ABORTED, // a write contended with a transaction
]);

/**
 * Conditional creates, point reads and atomic commits of concurrent requests, sent together: every one asked
 * for in one turn of the event loop goes out in one call when the turn ends (`setImmediate`), the way
 * DataLoader batches loads. Under load many requests' claims and completions land in one turn, and one RPC
 * costs the client about as much CPU as several; idle, a call waits for nothing but the end of the current
 * turn.
 *
 * - Creates go out as one BatchWrite (a `BulkWriter` per turn, up to 20 writes per call). Its writes apply
 *   independently, each with its own precondition, and an answer carries each write's status: a create of an
 *   existing document (a retry's claim) is a status in a successful answer, not an RPC error, which the
 *   client turns into an error far more cheaply (google-gax builds a protobuf `Root` for every RPC error it
 *   decodes: docs/benchmarks.md). Two creates of one document in a turn go out in separate calls: one lands,
 *   the other is refused.
 * - Reads go out as one BatchGetDocuments (`getAll`).
 * - Commits go out as one Commit. It is atomic as a whole, so each commit in it still applies entirely or
 *   not at all; but one write refused (a lost lease's precondition, an existing document) refuses them all,
 *   with nothing applied. Then each goes again in a call of its own, and gets its own answer. A failure that
 *   may have applied (a stall, UNAVAILABLE) or concerns every write alike is every caller's answer, as if
 *   each had made the call alone: sending again could apply a commit twice. No document is written twice in
 *   one call (a later commit of it goes in the next), and at most MAX_WRITES_PER_COMMIT writes go in one.
 *
 * Otherwise a call that Firestore fails fails every caller in it with its error, as if each had made it
 * alone, and is not retried here (the writer's own retries are off: a stalled create that lands later is an
 * orphaned claim, which the ledger already handles). A write the client cannot encode fails only its own
 * caller. Callers keep their own deadlines (`withDeadline`).
 */
export class CoalescedCalls {
  private creates: Array<{ ref: DocumentReference; data: DocumentData } & Settle<WriteResult>> = [];
  private reads: Array<{ ref: DocumentReference } & Settle<DocumentSnapshot>> = [];
  private commits: PendingCommit[] = [];
  private scheduled = false;

  constructor(private readonly db: Firestore) {}

  /** Creates `ref` unless it exists; rejects with the write's status (`code` 6, ALREADY_EXISTS) if it does. */
  create(ref: DocumentReference, data: DocumentData): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.creates.push({ ref, data, resolve, reject });
      this.schedule();
    });
  }

  get(ref: DocumentReference): Promise<DocumentSnapshot> {
    return new Promise((resolve, reject) => {
      this.reads.push({ ref, resolve, reject });
      this.schedule();
    });
  }

  /** Applies `writes` atomically, or none of them; rejects with Firestore's error, or the client's. */
  commit(writes: readonly CommitWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.commits.push({ writes, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const creates = this.creates.splice(0);
      const reads = this.reads.splice(0);
      const commits = this.commits.splice(0);
      if (creates.length > 0) this.sendCreates(creates);
      if (reads.length > 0) this.sendReads(reads);
      if (commits.length > 0) this.sendCommits(commits);
    });
  }

  private sendCreates(creates: Array<{ ref: DocumentReference; data: DocumentData } & Settle<WriteResult>>) {
    // One writer per turn, closed at once: nothing stays open (Firestore.terminate refuses while a writer
    // is), and no writer's bookkeeping outlives its turn.
    const writer = this.db.bulkWriter({ throttling: false });
    writer.onWriteError(() => false);
    for (const create of creates) {
      try {
        writer.create(create.ref, create.data).then(create.resolve, (e: unknown) => {
          // A write the client cannot encode fails the whole call before anything is sent, with an error
          // that carries no status: the others go again, each in a call of its own, so only it fails.
          if (creates.length > 1 && !hasStatus(e)) this.sendCreates([create]);
          else create.reject(e);
        });
      } catch (e) {
        create.reject(e);
      }
    }
    void writer.close();
  }

  private sendCommits(commits: PendingCommit[]) {
    let group: PendingCommit[] = [];
    let paths = new Set<string>();
    let writes = 0;
    for (const commit of commits) {
      const own = commit.writes.map((w) => w.ref.path);
      const full = writes + own.length > MAX_WRITES_PER_COMMIT;
      if (group.length > 0 && (full || own.some((p) => paths.has(p)))) {
        this.sendCommit(group);
        group = [];
        paths = new Set();
        writes = 0;
      }
      group.push(commit);
      for (const p of own) paths.add(p);
      writes += own.length;
    }
    this.sendCommit(group);
  }

  private sendCommit(group: PendingCommit[]) {
    const batch = this.db.batch();
    for (const commit of group) {
      try {
        addWrites(batch, commit.writes);
      } catch (e) {
        // The client refused one of this commit's writes (it cannot encode it), and the batch may hold the
        // ones before it: the others go again, each in a call of its own.
        commit.reject(e);
        for (const other of group) if (other !== commit) this.sendCommit([other]);
        return;
      }
    }
    batch.commit().then(
      () => {
        for (const commit of group) commit.resolve();
      },
      (e: unknown) => {
        const refusedForOne = !hasStatus(e) || REFUSED_FOR_ONE_WRITE.has(e.code);
        if (group.length > 1 && refusedForOne) for (const commit of group) this.sendCommit([commit]);
        else for (const commit of group) commit.reject(e);
      },
    );
  }

  private sendReads(reads: Array<{ ref: DocumentReference } & Settle<DocumentSnapshot>>) {
    this.db.getAll(...reads.map((r) => r.ref)).then(
      (snapshots) => {
        for (const [i, r] of reads.entries()) r.resolve(snapshots[i]!);
      },
      (e: unknown) => {
        for (const r of reads) r.reject(e);
      },
    );
  }
}

type Settle<T> = { resolve: (value: T) => void; reject: (error: unknown) => void };
type PendingCommit = { writes: readonly CommitWrite[] } & Settle<void>;

function addWrites(batch: WriteBatch, writes: readonly CommitWrite[]): void {
  for (const w of writes) {
    if (w.kind === 'create') batch.create(w.ref, w.data);
    else batch.update(w.ref, w.data, { lastUpdateTime: w.lastUpdateTime });
  }
}

const perClient = new WeakMap<Firestore, CoalescedCalls>();

/** The coalescer of `db`: one per client, shared by every store that uses it. */
export function coalescedCalls(db: Firestore): CoalescedCalls {
  let calls = perClient.get(db);
  if (!calls) {
    calls = new CoalescedCalls(db);
    perClient.set(db, calls);
  }
  return calls;
}
