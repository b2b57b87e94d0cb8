import type { Firestore } from '@google-cloud/firestore';
import { withDeadline } from './firestoreClient.js';

/** One read of a fixed document, within the request path's deadline: Firestore answers, or it does not. */
export const pingFirestore = (firestore: Firestore, deadlineMs: number) => (): Promise<unknown> =>
  withDeadline(firestore, () => firestore.collection('health').doc('ping').get(), deadlineMs, 'health check');
