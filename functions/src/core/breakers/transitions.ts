import {
  type BreakerRecord,
  type BreakerSettings,
  type BreakerStateKind,
  effectiveState,
  halfOpensAt,
  initialRecord,
  type WindowFigures,
} from './breakerState.js';

/**
 * The breaker's state machine as pure functions of the shared record. Each one is run inside a storage
 * transaction on the freshly read record (and may run several times if the transaction retries), so it
 * decides and returns; the caller acts (audit, logs) only after the commit. The same functions run on an
 * instance's local record when the shared store is unreachable.
 */

export type Transition = {
  provider: string;
  from: BreakerStateKind;
  to: BreakerStateKind;
  record: BreakerRecord;
};

/** `write`: the record to store, or null to leave the document untouched. */
export type Decision<T> = { write: BreakerRecord | null; result: T };

export type Decided = { record: BreakerRecord; transition: Transition | null };

/** How long a caller is asked to wait while the probes of a half-open breaker are all out. */
export const PROBES_OUT_RETRY_MS = 1_000;

/**
 * Closed → open, if the record is still the closed generation whose window the caller measured. N instances
 * that notice at once make one transition: the others find a newer generation and change nothing.
 */
export function decideOpen(
  provider: string,
  current: BreakerRecord | null,
  seenGeneration: number,
  figures: WindowFigures,
  now: number,
): Decision<Decided> {
  const record = current ?? initialRecord;
  if (record.state.kind !== 'closed' || record.generation !== seenGeneration) {
    return { write: null, result: { record, transition: null } };
  }
  const next: BreakerRecord = {
    state: { kind: 'open', openedAt: now },
    generation: record.generation + 1,
    figures,
    changedAt: now,
  };
  return {
    write: next,
    result: { record: next, transition: { provider, from: 'closed', to: 'open', record: next } },
  };
}

export type ProbeAdmission =
  | { granted: true; generation: number }
  | { granted: false; retryAfterMs: number }
  | { granted: 'closed' };

/**
 * Asks for a probe permit of an open (due) or half-open breaker. The first caller after the open interval
 * moves the breaker to half-open and takes the first permit; later callers take the rest until none are left.
 * A breaker found closed admits the call as an ordinary one.
 */
export function decideProbeAdmission(
  provider: string,
  current: BreakerRecord | null,
  now: number,
  settings: BreakerSettings,
): Decision<Decided & { admission: ProbeAdmission }> {
  const record = current ?? initialRecord;
  const state = effectiveState(record, now, settings);
  const unchanged = (admission: ProbeAdmission) => ({
    write: null,
    result: { record, transition: null, admission },
  });
  switch (state.kind) {
    case 'closed':
      return unchanged({ granted: 'closed' });
    case 'open': {
      const due = halfOpensAt(state, settings);
      if (now < due) return unchanged({ granted: false, retryAfterMs: due - now });
      const next: BreakerRecord = {
        state: {
          kind: 'half_open',
          openedAt: state.openedAt,
          halfOpenedAt: now,
          permitsLeft: settings.halfOpenProbes - 1,
          successes: 0,
        },
        generation: record.generation + 1,
        figures: record.figures,
        changedAt: now,
      };
      return {
        write: next,
        result: {
          record: next,
          // A stale half-open (see effectiveState) starts probing afresh: from half_open to half_open.
          transition: { provider, from: record.state.kind, to: 'half_open', record: next },
          admission: { granted: true, generation: next.generation },
        },
      };
    }
    case 'half_open': {
      if (state.permitsLeft <= 0) return unchanged({ granted: false, retryAfterMs: PROBES_OUT_RETRY_MS });
      const next: BreakerRecord = { ...record, state: { ...state, permitsLeft: state.permitsLeft - 1 } };
      return {
        write: next,
        result: {
          record: next,
          transition: null,
          admission: { granted: true, generation: record.generation },
        },
      };
    }
  }
}

/**
 * A probe's result, for the half-open generation that granted its permit: a failure re-opens the breaker,
 * the last needed success closes it (with an empty window). Every probe settles its permit one way or the
 * other: a permit handed back would make the next call a probe too, and the one after, each a write. A
 * result for an older generation changes nothing.
 */
export function decideProbeResult(
  provider: string,
  current: BreakerRecord | null,
  generation: number,
  result: 'success' | 'failure',
  now: number,
  settings: BreakerSettings,
): Decision<Decided> {
  const record = current ?? initialRecord;
  const state = effectiveState(record, now, settings);
  if (state.kind !== 'half_open' || record.generation !== generation) {
    return { write: null, result: { record, transition: null } };
  }
  if (result === 'failure') {
    const probed = state.successes + 1;
    const next: BreakerRecord = {
      state: { kind: 'open', openedAt: now },
      generation: record.generation + 1,
      figures: { requests: probed, failures: 1, errorRate: 1 / probed },
      changedAt: now,
    };
    return {
      write: next,
      result: { record: next, transition: { provider, from: 'half_open', to: 'open', record: next } },
    };
  }
  const successes = state.successes + 1;
  if (successes < settings.halfOpenProbes) {
    const next: BreakerRecord = { ...record, state: { ...state, successes } };
    return { write: next, result: { record: next, transition: null } };
  }
  const next: BreakerRecord = {
    state: { kind: 'closed' },
    generation: record.generation + 1,
    figures: { requests: successes, failures: 0, errorRate: 0 },
    changedAt: now,
  };
  return {
    write: next,
    result: { record: next, transition: { provider, from: 'half_open', to: 'closed', record: next } },
  };
}
