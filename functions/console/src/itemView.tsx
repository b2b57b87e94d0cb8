import type { RefObject } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { z } from 'zod';
import { checkOutput, isTaskName, taskOutputSchemas } from '../../src/core/tasks.js';
import { ApiError, type Me, type ReasonCode, type ReviewerApi, type ReviewItem, reasonCodes } from './api.js';
import { evidenceOf, highlight } from './evidence.js';
import { clockTime, taskTitle, timeLeft } from './format.js';
import { useNow } from './hooks.js';
import type { Route } from './main.js';
import { ConfidenceBar, Shortcuts } from './queueView.js';
import { type JsonSchema, SchemaField } from './schemaForm.js';
import { itemShortcuts, useShortcuts } from './shortcuts.js';

/**
 * One review item. Opening it claims it (another reviewer's live claim shows who holds it and until when);
 * the claim is renewed while the page stays open. The note is on the left with the evidence for each
 * proposed fact highlighted, the proposal on the right as a form generated from the task's output schema.
 */

type Load =
  | { kind: 'loading' }
  | { kind: 'claimed'; item: ReviewItem }
  | { kind: 'held'; item: ReviewItem | null; detail: string }
  | { kind: 'failed'; detail: string };

const reasonLabels: Record<ReasonCode, string> = {
  incorrect: 'Incorrect',
  incomplete: 'Incomplete',
  unsafe: 'Unsafe',
  other: 'Other',
};

const schemas: Record<string, JsonSchema> = Object.fromEntries(
  Object.entries(taskOutputSchemas).map(([task, schema]) => [task, z.toJSONSchema(schema) as JsonSchema]),
);

/** Where an item sits among the pending ones, for next / previous. */
async function neighbour(api: ReviewerApi, id: string, step: 1 | -1): Promise<string | null> {
  const pending = await api.list('pending');
  const ids = pending.map((i) => i.id).filter((x) => x !== id);
  if (step === 1) return ids[0] ?? null;
  const all = pending.map((i) => i.id);
  const at = all.indexOf(id);
  return at > 0 ? all[at - 1]! : (ids.at(-1) ?? null);
}

export function ItemView(props: { id: string; api: ReviewerApi; me: Me; navigate: (r: Route) => void }) {
  const { id, api, navigate } = props;
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let stopped = false;
    let renew: ReturnType<typeof setTimeout> | undefined;
    const claim = async () => {
      try {
        const item = await api.claim(id);
        if (stopped) return;
        setLoad({ kind: 'claimed', item });
        // Renew at half the lease while the page is open; when the reviewer leaves, the lease runs out.
        const leaseMs = item.leaseExpiresAt ? Date.parse(item.leaseExpiresAt) - Date.now() : 60_000;
        renew = setTimeout(claim, Math.max(15_000, leaseMs / 2));
      } catch (e) {
        if (stopped) return;
        if (e instanceof ApiError && e.status === 409) {
          setLoad({ kind: 'held', item: await findItem(api, id), detail: e.detail });
        } else {
          setLoad({ kind: 'failed', detail: e instanceof ApiError ? e.detail : String(e) });
        }
      }
    };
    void claim();
    return () => {
      stopped = true;
      clearTimeout(renew);
    };
  }, [api, id]);

  useEffect(() => {
    if (load.kind !== 'loading') heading.current?.focus();
  }, [load.kind]);

  const go = async (step: 1 | -1) => {
    const next = await neighbour(api, id, step);
    navigate(next ? { view: 'review', id: next } : { view: 'queue' });
  };

  if (load.kind === 'loading') return <p class="status">Claiming the item…</p>;
  if (load.kind === 'failed') {
    return (
      <>
        <h1 ref={heading} tabIndex={-1}>
          Could not open this item
        </h1>
        <p class="problem" role="alert">
          {load.detail}
        </p>
        <a href="#/queue">Back to the queue</a>
      </>
    );
  }
  if (load.kind === 'held') return <HeldView item={load.item} detail={load.detail} headingRef={heading} />;
  return <ClaimedView {...props} item={load.item} headingRef={heading} go={go} />;
}

/** The item as the queue lists it, in whichever state it is now. */
async function findItem(api: ReviewerApi, id: string): Promise<ReviewItem | null> {
  for (const state of ['claimed', 'approved', 'edited', 'rejected', 'pending'] as const) {
    const found = (await api.list(state).catch(() => [])).find((i) => i.id === id);
    if (found) return found;
  }
  return null;
}

function HeldView({
  item,
  detail,
  headingRef,
}: {
  item: ReviewItem | null;
  detail: string;
  headingRef: RefObject<HTMLHeadingElement | null>;
}) {
  const decided = item?.decision ?? null;
  return (
    <>
      <h1 ref={headingRef} tabIndex={-1}>
        {item ? taskTitle(item.task) : 'Review item'}
      </h1>
      <div class="notice" role="alert">
        {decided ? (
          <p>
            This item is already decided: <strong>{decided.action}</strong>
            {decided.reviewer ? ` by ${decided.reviewer}` : ''}
            {decided.reasonCode ? ` (reason: ${decided.reasonCode})` : ''} at {clockTime(decided.decidedAt)}.
          </p>
        ) : item?.claimedBy ? (
          <p>
            <strong>{item.claimedBy}</strong> is reviewing this item (claimed until{' '}
            {clockTime(item.leaseExpiresAt)}). You can open it once they finish or their claim runs out.
          </p>
        ) : (
          <p>{detail}</p>
        )}
      </div>
      {item && <NotePanel item={item} />}
      <a href="#/queue">Back to the queue</a>
    </>
  );
}

function NotePanel({ item }: { item: ReviewItem }) {
  const { segments, missing } = useMemo(
    () => highlight(item.input.text, evidenceOf(item.task, item.output)),
    [item],
  );
  return (
    <section class="note" aria-labelledby="note-title">
      <h2 id="note-title">Source note</h2>
      <p class="muted small-text">Highlighted: the text each proposed fact is based on.</p>
      <div class="note-text">
        {segments.map((s, i) =>
          s.label ? (
            <mark key={i} title={s.label}>
              {s.text}
            </mark>
          ) : (
            <span key={i}>{s.text}</span>
          ),
        )}
      </div>
      {missing.length > 0 && (
        <p class="missing">
          Not found in the note: {missing.map((m) => `${m.label} (“${m.phrase}”)`).join('; ')}
        </p>
      )}
    </section>
  );
}

function ClaimedView(props: {
  item: ReviewItem;
  api: ReviewerApi;
  navigate: (r: Route) => void;
  headingRef: RefObject<HTMLHeadingElement | null>;
  go: (step: 1 | -1) => Promise<void>;
}) {
  const { item, api, navigate, headingRef, go } = props;
  const now = useNow();
  const schema = schemas[item.task];
  const proposal = useMemo(() => JSON.stringify(item.output), [item.output]);
  const [value, setValue] = useState<unknown>(() => JSON.parse(proposal));
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState<ReasonCode | ''>('');
  const [note, setNote] = useState('');
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const reasonRef = useRef<HTMLSelectElement>(null);
  const edited = JSON.stringify(value) !== proposal;
  const left = timeLeft(item.dueAt, now);

  const decide = async (action: 'approve' | 'reject') => {
    setError(null);
    setProblems({});
    const effective = action === 'reject' ? 'reject' : edited ? 'edit' : 'approve';
    if (effective !== 'approve' && !reason) {
      setError(`Choose a reason to ${effective === 'edit' ? 'approve with edits' : 'reject'}.`);
      reasonRef.current?.focus();
      return;
    }
    if (effective === 'edit' && isTaskName(item.task)) {
      const check = checkOutput(item.task, value);
      if (!check.ok) {
        setProblems(
          Object.fromEntries(
            check.problems.map((p) => {
              const at = p.indexOf(': ');
              return [p.slice(0, at), p.slice(at + 2)];
            }),
          ),
        );
        setError('The edited proposal does not fit the task: see the marked fields.');
        return;
      }
    }
    setBusy(true);
    try {
      await api.decide(item.id, {
        action: effective,
        ...(effective === 'edit' ? { output: value } : {}),
        ...(effective !== 'approve' ? { reasonCode: reason as ReasonCode } : {}),
        ...(note.trim() ? { note: note.trim() } : {}),
      });
      // After a decision the next item opens.
      await go(1);
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : String(e));
    } finally {
      setBusy(false);
    }
  };

  useShortcuts({
    a: () => void decide('approve'),
    e: () => form.current?.querySelector<HTMLElement>('input, textarea')?.focus(),
    r: () => {
      setRejecting(true);
      setTimeout(() => reasonRef.current?.focus(), 0);
    },
    n: () => void go(1),
    p: () => void go(-1),
    q: () => navigate({ view: 'queue' }),
    Escape: () => navigate({ view: 'queue' }),
  });

  const needsReason = rejecting || edited;
  return (
    <>
      <div class="item-head" data-review-id={item.id}>
        <h1 ref={headingRef} tabIndex={-1}>
          {taskTitle(item.task)}
        </h1>
        <dl class="facts">
          <div>
            <dt>Confidence / threshold</dt>
            <dd>
              <ConfidenceBar confidence={item.confidence} threshold={item.threshold} />
            </dd>
          </div>
          <div>
            <dt>Model</dt>
            <dd>
              {item.model} <span class="muted">via</span> {item.provider}
            </dd>
          </div>
          <div>
            <dt>Time left (SLA)</dt>
            <dd class={left.overdue ? 'overdue' : undefined}>{left.text}</dd>
          </div>
          <div>
            <dt>Claim</dt>
            <dd>yours until {clockTime(item.leaseExpiresAt)}</dd>
          </div>
          {(item.escalated || item.sampled) && (
            <div>
              <dt>Flags</dt>
              <dd>
                {item.escalated && <span class="badge escalated">Escalated</span>}
                {item.sampled && <span class="badge sampled">Sampled</span>}
              </dd>
            </div>
          )}
        </dl>
      </div>
      <div class="split">
        <NotePanel item={item} />
        <section class="proposal" aria-labelledby="proposal-title">
          <h2 id="proposal-title">Proposal {edited && <span class="badge edited">edited</span>}</h2>
          <form
            ref={form}
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              void decide('approve');
            }}
          >
            {schema ? (
              <SchemaField
                schema={schema}
                value={value}
                onChange={setValue}
                label="Model output"
                disabled={busy}
                problems={problems}
                path=""
              />
            ) : (
              <pre>{JSON.stringify(item.output, null, 2)}</pre>
            )}
          </form>
        </section>
      </div>
      <section class="decision" aria-labelledby="decision-title">
        <h2 id="decision-title">Decision</h2>
        {needsReason && (
          <div class="reason-fields">
            <div class="field">
              <label for="reason">Reason {rejecting ? 'for rejecting' : 'for the edits'}</label>
              <select
                id="reason"
                ref={reasonRef}
                required
                value={reason}
                onChange={(e) => setReason(e.currentTarget.value as ReasonCode)}
              >
                <option value="">Choose a reason…</option>
                {reasonCodes.map((r) => (
                  <option key={r} value={r}>
                    {reasonLabels[r]}
                  </option>
                ))}
              </select>
            </div>
            <div class="field wide">
              <label for="note">Note (optional)</label>
              <textarea
                id="note"
                maxLength={2000}
                rows={2}
                value={note}
                onInput={(e) => setNote(e.currentTarget.value)}
              />
            </div>
          </div>
        )}
        {error && (
          <p class="problem" role="alert">
            {error}
          </p>
        )}
        <div class="actions">
          {!rejecting && (
            <button type="button" disabled={busy} onClick={() => void decide('approve')}>
              {edited ? 'Approve with edits' : 'Approve'} <kbd>a</kbd>
            </button>
          )}
          {!rejecting && (
            <button
              type="button"
              class="secondary"
              onClick={() => form.current?.querySelector<HTMLElement>('input, textarea')?.focus()}
            >
              Edit <kbd>e</kbd>
            </button>
          )}
          {rejecting ? (
            <>
              <button type="button" class="danger" disabled={busy} onClick={() => void decide('reject')}>
                Confirm reject
              </button>
              <button type="button" class="secondary" onClick={() => setRejecting(false)}>
                Cancel
              </button>
            </>
          ) : (
            <button type="button" class="danger" onClick={() => setRejecting(true)}>
              Reject <kbd>r</kbd>
            </button>
          )}
          <button type="button" class="secondary" onClick={() => void go(-1)}>
            Previous <kbd>p</kbd>
          </button>
          <button type="button" class="secondary" onClick={() => void go(1)}>
            Next <kbd>n</kbd>
          </button>
        </div>
      </section>
      <Shortcuts list={itemShortcuts} />
    </>
  );
}
