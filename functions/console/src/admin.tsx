import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  type Plugin,
  Tooltip,
} from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';
import { ApiError, type Overview, type ReviewerApi } from './api.js';
import { age, clockTime, percent, taskTitle } from './format.js';
import { usePolling } from './hooks.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const POLL_MS = 3_000;
/** Contrast of at least 3:1 against white for each series, and distinguishable without colour (order). */
const COLOURS = { approved: '#1a7f37', edited: '#8a5a00', rejected: '#c0222c', threshold: '#1f2328' };

/**
 * The admin view (role admin): each provider's breaker, the queue's health, and the reviewer agreement per
 * task as charts: the share of approve / edit / reject decisions in each confidence band, with the task's
 * threshold marked.
 */
export function AdminView({ api }: { api: ReviewerApi }) {
  const { data, error } = usePolling(() => api.overview(), POLL_MS, []);
  return (
    <>
      <h1>Admin</h1>
      {error instanceof Error && (
        <p class="problem" role="alert">
          Could not load the figures: {error instanceof ApiError ? error.detail : error.message}
        </p>
      )}
      {data === null ? <p class="status">Loading…</p> : <OverviewPanels overview={data} />}
    </>
  );
}

function OverviewPanels({ overview }: { overview: Overview }) {
  const { providers, queue, agreement } = overview;
  return (
    <>
      <section aria-labelledby="providers-title">
        <h2 id="providers-title">Providers</h2>
        <ul class="cards">
          {providers.map((p) => (
            <li key={p.name} class={`card breaker-${p.state}`} data-provider={p.name}>
              <h3>{p.name}</h3>
              <p>
                Breaker <strong class={`state state-${p.state}`}>{p.state.replace('_', '-')}</strong>
              </p>
              <p>
                Error rate {percent(p.errorRate, 1)} over {p.requests} request{p.requests === 1 ? '' : 's'}
              </p>
              {p.openedAt && <p>Opened at {clockTime(p.openedAt)}</p>}
            </li>
          ))}
          {providers.length === 0 && <li class="card">No providers configured.</li>}
        </ul>
      </section>
      <section aria-labelledby="queue-title">
        <h2 id="queue-title">Queue health</h2>
        <dl class="figures">
          <div>
            <dt>Queue depth</dt>
            <dd data-figure="depth">
              {queue.undecided}
              {queue.truncated ? '+' : ''}
            </dd>
          </div>
          <div>
            <dt>Oldest item</dt>
            <dd>{age(queue.oldestAgeSeconds)}</dd>
          </div>
          <div>
            <dt>Pending / claimed</dt>
            <dd>
              {queue.pending} / {queue.claimed}
            </dd>
          </div>
          <div>
            <dt>Escalated</dt>
            <dd>{queue.escalated}</dd>
          </div>
          <div>
            <dt>Sampled</dt>
            <dd>{queue.sampled}</dd>
          </div>
        </dl>
      </section>
      <section aria-labelledby="agreement-title">
        <h2 id="agreement-title">Reviewer agreement</h2>
        <p class="muted">
          Share of decisions by the model's confidence; the dark line is the task's review threshold. Based on{' '}
          {agreement.decisions} decision{agreement.decisions === 1 ? '' : 's'}
          {agreement.truncated ? ' (the oldest ones; there are more)' : ''}.
        </p>
        {agreement.tasks.length === 0 && <p>No decisions yet.</p>}
        <div class="charts">
          {agreement.tasks.map((t) => (
            <AgreementChart key={t.task} task={t} />
          ))}
        </div>
      </section>
    </>
  );
}

type TaskAgreement = Overview['agreement']['tasks'][number];

/** Draws each threshold as a vertical line at its place on the confidence axis. */
const thresholdLine: Plugin<'bar'> = {
  id: 'thresholdLine',
  afterDatasetsDraw(chart) {
    const thresholds = (chart.options.plugins as { thresholdLine?: { values: number[]; bandWidth: number } })
      .thresholdLine;
    if (!thresholds) return;
    const x = chart.scales.x!;
    const { top, bottom } = chart.chartArea;
    const step = x.getPixelForValue(1) - x.getPixelForValue(0);
    const ctx = chart.ctx;
    for (const t of thresholds.values) {
      const px = x.getPixelForValue(0) + (t / thresholds.bandWidth - 0.5) * step;
      ctx.save();
      ctx.strokeStyle = COLOURS.threshold;
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(px, top);
      ctx.lineTo(px, bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLOURS.threshold;
      ctx.font = '12px system-ui, sans-serif';
      // The label sits on the side of the line with room for it.
      const right = px > (chart.chartArea.left + chart.chartArea.right) / 2;
      ctx.textAlign = right ? 'right' : 'left';
      ctx.fillText(`threshold ${t}`, right ? px - 4 : px + 4, top + 12);
      ctx.restore();
    }
  },
};

function AgreementChart({ task }: { task: TaskAgreement }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<'bar'> | null>(null);
  const bandWidth = task.bands.length > 0 ? task.bands[0]!.high - task.bands[0]!.low : 0.1;
  const labels = task.bands.map((b) => `${b.low.toFixed(1)}–${b.high.toFixed(1)}`);
  const share = (key: 'approved' | 'edited' | 'rejected') =>
    task.bands.map((b) => (b.reviewed === 0 ? 0 : Math.round((b[key] / b.reviewed) * 1000) / 10));
  const summary = describe(task);

  useEffect(() => {
    if (!canvas.current) return;
    const config: ChartConfiguration<'bar'> = {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'Approved', data: share('approved'), backgroundColor: COLOURS.approved },
          { label: 'Edited', data: share('edited'), backgroundColor: COLOURS.edited },
          { label: 'Rejected', data: share('rejected'), backgroundColor: COLOURS.rejected },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, title: { display: true, text: 'model confidence' } },
          y: { stacked: true, min: 0, max: 100, title: { display: true, text: '% of decisions' } },
        },
        plugins: {
          legend: { position: 'bottom' },
          ...({ thresholdLine: { values: task.thresholds, bandWidth } } as object),
        },
      },
      plugins: [thresholdLine],
    };
    if (chart.current) {
      chart.current.data = config.data;
      chart.current.options = config.options!;
      chart.current.update();
    } else {
      chart.current = new Chart(canvas.current, config);
    }
  });
  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [],
  );

  return (
    <figure class="chart" data-task={task.task}>
      <figcaption>
        {taskTitle(task.task)}: {task.reviewed} decision{task.reviewed === 1 ? '' : 's'}
      </figcaption>
      <div class="chart-box">
        <canvas ref={canvas} role="img" aria-label={summary}>
          {summary}
        </canvas>
      </div>
    </figure>
  );
}

/** The chart in words, for screen readers. */
function describe(task: TaskAgreement): string {
  const parts = task.bands
    .filter((b) => b.reviewed > 0)
    .map(
      (b) =>
        `confidence ${b.low.toFixed(1)} to ${b.high.toFixed(1)}: ${b.reviewed} decisions, ${percent(b.approved / b.reviewed)} approved, ${percent(b.edited / b.reviewed)} edited, ${percent(b.rejected / b.reviewed)} rejected`,
    );
  return `${taskTitle(task.task)}, threshold ${task.thresholds.join(' and ')}. ${parts.join('; ') || 'No decisions.'}`;
}
