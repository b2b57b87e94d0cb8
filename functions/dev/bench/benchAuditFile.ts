import { rmSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../emulators.js';

/**
 * The local audit file of a benchmark, emptied before the run. Every run starts its own Firestore emulator, so
 * the events of earlier runs belong to chains that no longer exist, and a file appended to by every run grows
 * without bound (a gigabyte every few dozen `bench:load` runs).
 */
export function benchAuditFile(name: string): string {
  const file = path.join(PROJECT_ROOT, '.data', name);
  rmSync(file, { force: true });
  return file;
}
