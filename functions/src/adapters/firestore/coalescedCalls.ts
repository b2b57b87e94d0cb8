import type {
  DocumentData,
  DocumentReference,
  DocumentSnapshot,
  Firestore,
  WriteResult,
} from '@google-cloud/firestore';

/**
 * Conditional creates and point reads of concurrent requests, sent together: every one asked for in one turn
 * of the event loop goes out in one call when the turn ends (`setImmediate`), the way DataLoader batches
 * loads. Under load many requests' claims land in one turn, and one RPC costs the client about as much CPU as
 * several; idle, a call waits for nothing but the end of the current turn.
 *
 * - Creates go out as one BatchWrite (a `BulkWriter` per turn, up to 20 writes per call). Its writes apply
 *   independently, each with its own precondition, and an answer carries each write's status: a create of an
 *   existing document (a retry's claim) is a status in a successful answer, not an RPC error, which the
 *   client turns into an error far more cheaply (google-gax builds a protobuf `Root` for every RPC error it
 *   decodes: docs/benchmarks.md). Two creates of one document in a turn go out in separate calls: one lands,
 *   the other is refused.
 * - Reads go out as one BatchGetDocuments (`getAll`).
 *
 * A call that Firestore fails fails every caller in it with its error, as if each had made it alone, and is
 * not retried here (the writer's own retries are off: a stalled create that lands later is an orphaned claim,
 * which the ledger already handles). A write the client cannot encode fails only its own caller. Callers keep
 * their own deadlines (`withDeadline`).
 */
export class CoalescedCalls {
  private creates: Array<{ ref: DocumentReference; data: DocumentData } & Settle<WriteResult>> = [];
  private reads: Array<{ ref: DocumentReference } & Settle<DocumentSnapshot>> = [];
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

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const creates = this.creates.splice(0);
      const reads = this.reads.splice(0);
      if (creates.length > 0) this.sendCreates(creates);
      if (reads.length > 0) this.sendReads(reads);
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

/** An answer of Firestore (an RPC's or a write's gRPC status), rather than a failure of the client itself. */
const hasStatus = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number';

type Settle<T> = { resolve: (value: T) => void; reject: (error: unknown) => void };

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
