import { useRef, useState } from 'preact/hooks';
import { ApiError, type ItemState, itemStates, type ReviewerApi, type ReviewItem } from './api.js';
import { score, taskTitle, timeLeft } from './format.js';
import { useNow, usePolling } from './hooks.js';
import type { Route } from './main.js';
import { queueShortcuts, useShortcuts } from './shortcuts.js';

export const tasks = ['medication-extraction', 'clinical-summary', 'icd10-suggestion'] as const;
const POLL_MS = 2_000;

export function QueueView({ api, navigate }: { api: ReviewerApi; navigate: (r: Route) => void }) {
  const [state, setState] = useState<ItemState>('pending');
  const [task, setTask] = useState<string>('all');
  const { data, error } = usePolling(() => api.list(state), POLL_MS, [state]);
  const now = useNow();
  const table = useRef<HTMLTableElement>(null);
  const items = (data ?? []).filter((i) => task === 'all' || i.task === task);

  const links = () => [...(table.current?.querySelectorAll<HTMLAnchorElement>('a.open') ?? [])];
  const move = (step: number) => {
    const all = links();
    if (all.length === 0) return;
    const at = all.indexOf(document.activeElement as HTMLAnchorElement);
    const next =
      at === -1 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, at + step));
    all[next]!.focus();
  };
  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    o: () => {
      const focused = links().find((a) => a === document.activeElement) ?? links()[0];
      const item = items.find((i) => focused?.dataset.id === i.id);
      if (item) navigate({ view: 'review', id: item.id });
    },
  });

  return (
    <>
      <h1>Review queue</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="filter-task">Task</label>
          <select id="filter-task" value={task} onChange={(e) => setTask(e.currentTarget.value)}>
            <option value="all">All tasks</option>
            {tasks.map((t) => (
              <option key={t} value={t}>
                {taskTitle(t)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-state">State</label>
          <select
            id="filter-state"
            value={state}
            onChange={(e) => setState(e.currentTarget.value as ItemState)}
          >
            {itemStates.map((s) => (
              <option key={s} value={s}>
                {s.charAt(0).toUpperCase() + s.slice(1)}
              </option>
            ))}
          </select>
        </div>
      </form>
      <p class="status" role="status" aria-live="polite">
        {data === null
          ? 'Loading…'
          : `${items.length} ${state} item${items.length === 1 ? '' : 's'}, oldest first; the list updates by itself.`}
      </p>
      {error instanceof Error && (
        <p class="problem" role="alert">
          Could not load the queue: {error instanceof ApiError ? error.detail : error.message}
        </p>
      )}
      {items.length > 0 && (
        <table class="queue" ref={table}>
          <caption class="visually-hidden">Review items, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Confidence / threshold</th>
              <th scope="col">Time left (SLA)</th>
              <th scope="col">Flags</th>
              <th scope="col">Claimed by</th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <QueueRow key={item.id} item={item} now={now} />
            ))}
          </tbody>
        </table>
      )}
      <Shortcuts list={queueShortcuts} />
    </>
  );
}

function QueueRow({ item, now }: { item: ReviewItem; now: number }) {
  const left = timeLeft(item.dueAt, now);
  const decided = item.state === 'approved' || item.state === 'edited' || item.state === 'rejected';
  return (
    <tr data-id={item.id} class={item.escalated ? 'escalated' : undefined}>
      <td>
        <a class="open" data-id={item.id} href={`#/review/${item.id}`}>
          {taskTitle(item.task)}
        </a>
        <span class="muted small-text"> {item.id}</span>
      </td>
      <td>
        <ConfidenceBar confidence={item.confidence} threshold={item.threshold} />
      </td>
      <td class={left.overdue ? 'overdue' : left.soon ? 'soon' : undefined}>
        {decided ? `decided (${item.state})` : left.text}
      </td>
      <td>
        {item.escalated && <span class="badge escalated">Escalated</span>}
        {item.sampled && <span class="badge sampled">Sampled</span>}
        {!item.escalated && !item.sampled && <span class="muted">—</span>}
      </td>
      <td>{item.claimedBy ?? <span class="muted">—</span>}</td>
    </tr>
  );
}

export function ConfidenceBar({ confidence, threshold }: { confidence: number; threshold: number }) {
  const below = confidence < threshold;
  return (
    <span class="confidence">
      <meter
        min={0}
        max={1}
        value={confidence}
        low={threshold}
        optimum={1}
        aria-label={`confidence ${score(confidence)}, threshold ${score(threshold)}`}
      />
      <span>
        {score(confidence)} / {score(threshold)}{' '}
        <span class={below ? 'below' : 'above'}>
          ({below ? `${score(threshold - confidence)} below` : 'at or above'})
        </span>
      </span>
    </span>
  );
}

export function Shortcuts({ list }: { list: readonly (readonly [string, string])[] }) {
  return (
    <aside class="shortcuts" aria-labelledby="shortcuts-title">
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      <dl>
        {list.map(([key, what]) => (
          <div key={key}>
            <dt>
              <kbd>{key}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
    </aside>
  );
}
