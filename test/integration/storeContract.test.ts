import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { FirestoreInferenceStore } from '../../functions/src/adapters/firestore/firestoreInferenceStore.js';
import { FirestoreLedgerStore } from '../../functions/src/adapters/firestore/firestoreLedgerStore.js';
import { FirestoreOutboxStore } from '../../functions/src/adapters/firestore/firestoreOutboxStore.js';
import { FirestorePendingAuditStore } from '../../functions/src/adapters/firestore/firestorePendingAuditStore.js';
import { FirestoreReviewStore } from '../../functions/src/adapters/firestore/firestoreReviewStore.js';
import { MemoryDatabase } from '../support/memoryStores.js';
import { describeStoreContract } from '../support/storeContract.js';

describeStoreContract({
  name: 'Firestore adapters on the emulator',
  async open() {
    // A project of its own per test: an empty database, whatever other suites wrote.
    const db = new Firestore({
      projectId: `store-contract-${randomUUID().slice(0, 8)}`,
      ignoreUndefinedProperties: true,
    });
    return {
      ledger: new FirestoreLedgerStore(db),
      inferences: new FirestoreInferenceStore(db),
      outbox: new FirestoreOutboxStore(db),
      reviews: new FirestoreReviewStore(db),
      pending: new FirestorePendingAuditStore(db),
      close: () => db.terminate(),
    };
  },
});

describeStoreContract({
  name: 'memory stores (test/support/memoryStores.ts)',
  async open() {
    return { ...new MemoryDatabase().stores(), close: async () => undefined };
  },
});
