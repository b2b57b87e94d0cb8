import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BigQuery } from '@google-cloud/bigquery';
import { Firestore } from '@google-cloud/firestore';
import { LocalAuditEventSource } from '../adapters/audit/localAuditEventSource.js';
import { BigQueryAuditEventSource, runQueryWith } from '../adapters/bigquery/bigQueryAuditEventSource.js';
import { FirestoreDecisionLedger } from '../adapters/firestore/firestoreDecisionLedger.js';
import { agreementReport } from '../core/audit/agreement.js';
import type { AuditEventSource, TimeRange, VerificationScope } from '../core/audit/auditQuery.js';
import { calibrate } from '../core/audit/calibration.js';
import { verifyChains } from '../core/audit/chainVerifier.js';
import { checkCompleteness, type DecisionLedger } from '../core/audit/completeness.js';
import { provenanceOf } from '../core/audit/provenance.js';
import { reviewOutcomes } from '../core/audit/reviewOutcomes.js';
import { type Clock, systemClock } from '../core/clock.js';
import { type AuditCliConfig, isAuditCliConfigError, loadAuditCliConfig } from './auditCliConfig.js';
import { agreementText, completenessText, provenanceText, verificationText } from './auditReports.js';
import { calibrationChart } from './calibrationChart.js';
import { type CalibrationReport, calibrationText } from './calibrationReport.js';

/**
 * The audit commands, for operators and auditors:
 *
 *   npm run audit:provenance -- --inference inf_…  [--since T]          everything about one inference
 *   npm run audit:verify [-- --from T --to T]                            recompute the hash chains
 *   npm run audit:completeness -- --from T --to T [--tenant X]           ledger decisions vs audit events
 *   npm run audit:agreement [-- --from T --to T] [--band-width 0.1]      reviewer agreement by confidence
 *   npm run audit:calibrate -- --task T [--alpha 0.02] [--delta 0.05] [--from T --to T] [--chart FILE]
 *                                                                         review threshold from the evidence
 *
 * AUDIT_BACKEND=local reads AUDIT_LOG_FILE; AUDIT_BACKEND=bigquery reads the sink's dataset. Add `--json`
 * for the report as JSON. Exit status: 0 all good, 1 findings, 2 bad usage or configuration, 3 the
 * backend failed (permissions, missing dataset, unreachable emulator).
 */

export const EXIT = { ok: 0, findings: 1, usage: 2, failed: 3 } as const;

const DAY_MS = 86_400_000;
/** How far before a range chains and proposals are looked for: past any review's lifetime. */
const DEFAULT_LOOKBACK_DAYS = 30;
/** Cloud Logging delivers to BigQuery within about a minute; a range ending later may look incomplete. */
const SINK_LATENCY_MS = 5 * 60_000;

export type CliIo = { out: (line: string) => void; err: (line: string) => void };

export type CliContext = {
  config: AuditCliConfig;
  source: AuditEventSource;
  /** Opened only by the command that needs it (completeness). */
  openLedger: () => { ledger: DecisionLedger; close(): Promise<void> };
  /** The time the reports run to by default. */
  now: Clock;
  io: CliIo;
};

export class UsageError extends Error {
  override readonly name = 'UsageError';
}
export const isUsageError = (e: unknown): e is UsageError => e instanceof UsageError;

const commands = ['provenance', 'verify', 'completeness', 'agreement', 'calibrate'] as const;
type Command = (typeof commands)[number];

export async function runAuditCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      inference: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      since: { type: 'string' },
      tenant: { type: 'string' },
      'lookback-days': { type: 'string' },
      'band-width': { type: 'string' },
      task: { type: 'string' },
      alpha: { type: 'string' },
      delta: { type: 'string' },
      chart: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0] as Command | undefined;
  if (!command || !commands.includes(command) || positionals.length > 1) {
    throw new UsageError(`usage: audit <${commands.join('|')}> [options]`);
  }
  const print = (report: unknown, text: string[]) => {
    if (values.json) ctx.io.out(JSON.stringify(report, null, 2));
    else for (const line of text) ctx.io.out(line);
  };
  const lookbackMs =
    positiveNumber(values['lookback-days'] ?? String(DEFAULT_LOOKBACK_DAYS), '--lookback-days') * DAY_MS;

  switch (command) {
    case 'provenance': {
      if (!values.inference) throw new UsageError('provenance needs --inference <inference id>');
      const since = values.since ? time(values.since, '--since') : undefined;
      const provenance = await provenanceOf(ctx.source, values.inference, ctx.config.chainKeys, since);
      print(provenance, provenanceText(provenance));
      return provenance.records.length > 0 && provenance.verification.problems.length === 0
        ? EXIT.ok
        : EXIT.findings;
    }
    case 'verify': {
      const range = optionalRange(values.from, values.to, new Date(ctx.now()));
      const scope: VerificationScope = range
        ? { kind: 'range', range, since: new Date(range.from.getTime() - lookbackMs) }
        : { kind: 'all' };
      const report = await verifyChains(ctx.source.chains(scope), ctx.config.chainKeys);
      print({ scope, ...report }, verificationText(report));
      return report.problems.length === 0 ? EXIT.ok : EXIT.findings;
    }
    case 'completeness': {
      if (!values.from || !values.to)
        throw new UsageError('completeness needs --from <time> and --to <time>');
      const range = rangeOf(values.from, values.to);
      if (ctx.config.backend === 'bigquery' && range.to.getTime() > ctx.now() - SINK_LATENCY_MS) {
        ctx.io.err(
          'note: the range ends less than 5 minutes ago; events still on their way to BigQuery will show as missing',
        );
      }
      const { ledger, close } = ctx.openLedger();
      try {
        const report = await checkCompleteness(
          ledger,
          ctx.source,
          range,
          values.tenant ? { tenant: values.tenant } : {},
        );
        print(report, completenessText(report));
        return report.incomplete.length === 0 ? EXIT.ok : EXIT.findings;
      } finally {
        await close();
      }
    }
    case 'agreement': {
      const now = new Date(ctx.now());
      const range = optionalRange(values.from, values.to, now) ?? {
        from: new Date(now.getTime() - DEFAULT_LOOKBACK_DAYS * DAY_MS),
        to: now,
      };
      const bandWidth = positiveNumber(values['band-width'] ?? '0.1', '--band-width');
      if (bandWidth > 1) throw new UsageError('--band-width must be at most 1');
      const report = await agreementReport(ctx.source, range, {
        bandWidth,
        since: new Date(range.from.getTime() - lookbackMs),
      });
      print(report, agreementText(report));
      return EXIT.ok;
    }
    case 'calibrate': {
      if (!values.task) throw new UsageError('calibrate needs --task <task>');
      const now = new Date(ctx.now());
      const range = optionalRange(values.from, values.to, now) ?? {
        from: new Date(now.getTime() - DEFAULT_LOOKBACK_DAYS * DAY_MS),
        to: now,
      };
      const target = {
        alpha: fraction(values.alpha ?? '0.02', '--alpha'),
        delta: fraction(values.delta ?? '0.05', '--delta'),
      };
      const groups = await calibrate(reviewOutcomes(ctx.source, range, { task: values.task }), target);
      const report: CalibrationReport = { task: values.task, range, target, groups };
      print(report, calibrationText(report));
      if (values.chart) {
        // One chart per group: FILE for the first, FILE-2, FILE-3… for the others.
        const base = resolve(values.chart);
        await mkdir(dirname(base), { recursive: true });
        for (const [i, group] of groups.entries()) {
          const file =
            i === 0 ? base : `${base.slice(0, base.length - extname(base).length)}-${i + 1}${extname(base)}`;
          await writeFile(file, calibrationChart(group, target));
          ctx.io.err(
            `chart of ${group.model} / ${group.scorerVersion} / ${group.promptTemplateVersion}: ${file}`,
          );
        }
      }
      const supported = groups.length > 0 && groups.every((g) => g.recommendation.kind === 'threshold');
      return supported ? EXIT.ok : EXIT.findings;
    }
  }
}

function time(text: string, option: string): Date {
  // A date alone is midnight UTC; a time must say its offset, so no one's local clock changes the answer.
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(iso);
  const date = new Date(iso);
  if (!ok || Number.isNaN(date.getTime())) {
    throw new UsageError(`${option} must be a date (2026-11-27) or an RFC 3339 time (2026-11-27T09:00:00Z)`);
  }
  return date;
}

function rangeOf(from: string, to: string): TimeRange {
  const range = { from: time(from, '--from'), to: time(to, '--to') };
  if (range.from.getTime() >= range.to.getTime()) throw new UsageError('--from must be before --to');
  return range;
}

/** Both ends, or neither; `--from` alone runs to now. */
function optionalRange(from: string | undefined, to: string | undefined, now: Date): TimeRange | null {
  if (!from && !to) return null;
  if (!from) throw new UsageError('--to needs --from');
  return rangeOf(from, to ?? now.toISOString());
}

function fraction(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n >= 1)
    throw new UsageError(`${option} must be a number between 0 and 1`);
  return n;
}

function positiveNumber(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${option} must be a positive number`);
  return n;
}

/** The real sources, from the configuration. */
export function contextFor(config: AuditCliConfig, io: CliIo): CliContext {
  const source =
    config.backend === 'local'
      ? new LocalAuditEventSource(resolve(config.logFile))
      : new BigQueryAuditEventSource(
          runQueryWith(new BigQuery({ projectId: config.bigquery.project })),
          config.bigquery,
        );
  return {
    config,
    source,
    now: systemClock,
    io,
    openLedger: () => {
      // The Firestore client reads the emulator address from the environment when it is created.
      if (config.firestoreEmulatorHost) process.env.FIRESTORE_EMULATOR_HOST = config.firestoreEmulatorHost;
      const firestore = new Firestore({ projectId: config.project });
      return { ledger: new FirestoreDecisionLedger(firestore), close: () => firestore.terminate() };
    },
  };
}

async function main(): Promise<void> {
  const io: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };
  try {
    const config = loadAuditCliConfig();
    const where =
      config.backend === 'local'
        ? `local audit file ${resolve(config.logFile)}`
        : `BigQuery ${config.bigquery.project}.${config.bigquery.dataset}.${config.bigquery.table}`;
    io.err(`reading ${where}`);
    process.exitCode = await runAuditCli(process.argv.slice(2), contextFor(config, io));
  } catch (error) {
    if (isUsageError(error) || isAuditCliConfigError(error) || isArgsError(error)) {
      io.err((error as Error).message);
      process.exitCode = EXIT.usage;
      return;
    }
    // A BigQuery or Firestore failure (permissions, missing dataset): its message is about the service.
    io.err(`audit command failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT.failed;
  }
}

/** `parseArgs` rejects unknown or malformed options with a TypeError carrying an ERR_PARSE_ARGS_* code. */
function isArgsError(e: unknown): boolean {
  const code = e instanceof TypeError ? (e as TypeError & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
