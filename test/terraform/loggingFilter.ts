/**
 * Just enough of Cloud Logging's side to test the audit sink's filter against what the code really writes:
 *
 * - `logEntryFromStdout`: the LogEntry Cloud Run's logging agent makes of one structured JSON line on a
 *   function's stdout (special `logging.googleapis.com/*` keys and `severity` lifted out, the rest is
 *   `jsonPayload`);
 * - `matchesLoggingFilter`: the Logging query language restricted to conjunctions of equalities
 *   (`a.b="v" AND c=v`), alternatives of quoted values (`a=("v" OR "w")`) and `log_id("…")`, which is all
 *   the sink, exclusion and metric filters use. Anything else (NOT, `:`, comparisons, other parentheses)
 *   throws, so a filter this cannot judge fails the test instead of passing.
 */

export type LogEntry = {
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  severity: string;
  labels: Record<string, string>;
  jsonPayload: Record<string, unknown>;
  insertId?: string;
  trace?: string;
};

const SPECIAL_KEYS = {
  'logging.googleapis.com/labels': 'labels',
  'logging.googleapis.com/insertId': 'insertId',
  'logging.googleapis.com/trace': 'trace',
} as const;

export function logEntryFromStdout(line: string, project: string, serviceName: string): LogEntry {
  const fields = JSON.parse(line) as Record<string, unknown>;
  const entry: LogEntry = {
    logName: `projects/${project}/logs/run.googleapis.com%2Fstdout`,
    resource: { type: 'cloud_run_revision', labels: { service_name: serviceName, project_id: project } },
    severity: typeof fields.severity === 'string' ? fields.severity : 'DEFAULT',
    labels: {},
    jsonPayload: {},
  };
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'severity' || key === 'time' || key === 'timestamp') continue;
    const special = SPECIAL_KEYS[key as keyof typeof SPECIAL_KEYS];
    if (special === 'labels') entry.labels = value as Record<string, string>;
    else if (special) entry[special] = String(value);
    else entry.jsonPayload[key] = value;
  }
  return entry;
}

type Comparison = { kind: 'equals'; path: string[]; values: string[] } | { kind: 'logId'; logId: string };

/**
 * Conjunctions (`AND`) of `field=value`, `field=("a" OR "b")` (any of the values) and `log_id("x")` (the
 * entry's logName is `…/logs/` + the URL-encoded x). Anything else throws.
 */
export function parseLoggingFilter(filter: string): Comparison[] {
  const comparisons: Comparison[] = [];
  const quoted = '"(?:[^"\\\\]|\\\\.)*"';
  const clause = new RegExp(
    `^\\s*(?:log_id\\((${quoted})\\)|([A-Za-z_][\\w]*(?:\\.[A-Za-z_][\\w]*)*)\\s*=\\s*(\\((?:\\s*${quoted}\\s*(?:OR\\s*)?)+\\)|${quoted}|[^\\s"()]+))\\s*`,
    'y',
  );
  let rest = filter;
  for (;;) {
    clause.lastIndex = 0;
    const m = clause.exec(rest);
    if (!m) throw new Error(`logging filter not understood at: ${JSON.stringify(rest)}`);
    if (m[1] !== undefined) {
      comparisons.push({ kind: 'logId', logId: JSON.parse(m[1]) as string });
    } else {
      const raw = m[3]!;
      const values = raw.startsWith('(')
        ? [...raw.matchAll(new RegExp(quoted, 'g'))].map((q) => JSON.parse(q[0]) as string)
        : [raw.startsWith('"') ? (JSON.parse(raw) as string) : raw];
      if (raw.startsWith('(') && !/^\(\s*"(?:[^"\\]|\\.)*"(?:\s*OR\s*"(?:[^"\\]|\\.)*")*\s*\)$/.test(raw)) {
        throw new Error(`logging filter: only OR between quoted values is understood: ${raw}`);
      }
      comparisons.push({ kind: 'equals', path: m[2]!.split('.'), values });
    }
    rest = rest.slice(m[0].length);
    if (rest === '') return comparisons;
    const and = /^AND\s+/.exec(rest);
    if (!and) throw new Error(`logging filter not understood at: ${JSON.stringify(rest)}`);
    rest = rest.slice(and[0].length);
  }
}

export function fieldOf(entry: LogEntry, path: readonly string[]): unknown {
  let value: unknown = entry;
  for (const key of path) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

export function matchesLoggingFilter(filter: string, entry: LogEntry): boolean {
  return parseLoggingFilter(filter).every((comparison) => {
    if (comparison.kind === 'logId') {
      return entry.logName.endsWith(`/logs/${encodeURIComponent(comparison.logId)}`);
    }
    const actual = fieldOf(entry, comparison.path);
    return actual !== undefined && actual !== null && comparison.values.includes(String(actual));
  });
}
