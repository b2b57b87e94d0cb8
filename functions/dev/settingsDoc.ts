/**
 * `npm run docs:settings`: writes docs/settings.md, the reference of every environment variable, from the zod
 * schemas that parse them (`functions/src/config.ts` for the functions, `functions/src/cli/auditCliConfig.ts`
 * for the audit commands): name, default, accepted values and the schema's own `.describe()` text. The page
 * is committed; test/unit/settingsDoc.test.ts fails while it is stale or a variable has no description, so a
 * new setting cannot ship undocumented.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { envSchema as auditCliSchema } from '../src/cli/auditCliConfig.js';
import { envSchema as gatewaySchema } from '../src/config.js';
import { PROJECT_ROOT } from './emulators.js';

export const SETTINGS_DOC = path.join(PROJECT_ROOT, 'docs/settings.md');

type Schema = z.ZodType;
type EnvSchema = z.ZodObject<Record<string, Schema>>;

/**
 * Defaults that depend on where the doc is generated rather than on the product: `GATEWAY_VERSION` defaults to
 * `npm_package_version`, which is set under `npm run` and not under a bare `npx mocha`.
 */
const SHOWN_DEFAULTS: Readonly<Record<string, string>> = { GATEWAY_VERSION: 'the package version' };

const isBreaker = (name: string) => name.startsWith('BREAKER_');
const isReview = (name: string) =>
  /^(REVIEW_|TASKS_|CALLBACK_|ESCALATION_|DEADLINE_|WEBHOOK_|JOBS_|SCHEDULER_)/.test(name);
const isAudit = (name: string) => name.startsWith('AUDIT_');

/** Sections of the functions' settings, in the order shown; each variable belongs to exactly one. */
const GATEWAY_SECTIONS = [
  {
    title: 'Core',
    intro:
      'Environment, authentication, idempotency ([idempotency.md](idempotency.md)), routing ([providers-and-breakers.md](providers-and-breakers.md)) and load shedding.',
    test: (name: string) => !isBreaker(name) && !isReview(name) && !isAudit(name),
  },
  {
    title: 'Review pipeline',
    intro:
      'What these drive: [review.md](review.md); callbacks: [webhooks.md](webhooks.md); events: [events.md](events.md).',
    test: isReview,
  },
  {
    title: 'Audit trail',
    intro: 'What is audited and where it goes: [audit.md](audit.md); keys: [security.md](security.md).',
    test: isAudit,
  },
  {
    title: 'Circuit breakers',
    intro:
      'How a breaker decides, and the per-provider overrides in `ROUTING_CONFIG`: [providers-and-breakers.md](providers-and-breakers.md).',
    test: isBreaker,
  },
] as const;

/** The wrappers a variable's schema may sit in, outermost first, with the default if one is set. */
function unwrap(schema: Schema): { inner: Schema; defaultValue: unknown; hasDefault: boolean } {
  let current = schema;
  let defaultValue: unknown;
  let hasDefault = false;
  for (;;) {
    const def = current.def as { type: string; innerType?: Schema; defaultValue?: unknown };
    if (def.type === 'default' && !hasDefault) {
      hasDefault = true;
      defaultValue = def.defaultValue;
    }
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'nullable') && def.innerType) {
      current = def.innerType;
      continue;
    }
    return { inner: current, defaultValue, hasDefault };
  }
}

/** Whether the variable holds JSON: a pipe somewhere in it ends in an object or a record. */
function holdsJson(schema: Schema): boolean {
  const def = schema.def as { type: string; in?: Schema; out?: Schema };
  if (def.type !== 'pipe' || !def.in || !def.out) return false;
  const out = unwrap(def.out).inner.def.type;
  return out === 'record' || out === 'object' || holdsJson(def.in) || holdsJson(def.out);
}

const code = (value: unknown) => `\`${String(value)}\``;

/** What a variable accepts, in words, from the JSON Schema of its input side. */
function accepted(schema: Schema): string {
  const { inner } = unwrap(schema);
  if (inner.def.type === 'undefined') return 'must be unset';
  if (holdsJson(inner)) return 'JSON';
  const json = z.toJSONSchema(inner, { io: 'input', unrepresentable: 'any' }) as {
    type?: string;
    enum?: unknown[];
    format?: string;
    minimum?: number;
    maximum?: number;
    exclusiveMinimum?: number;
    exclusiveMaximum?: number;
    minLength?: number;
  };
  if (json.enum) return json.enum.map(code).join(', ');
  if (json.type === 'integer' || json.type === 'number') {
    const bounds = [
      json.exclusiveMinimum !== undefined ? `> ${json.exclusiveMinimum}` : undefined,
      json.minimum !== undefined ? `≥ ${json.minimum}` : undefined,
      json.exclusiveMaximum !== undefined ? `< ${json.exclusiveMaximum}` : undefined,
      json.maximum !== undefined && json.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${json.maximum}` : undefined,
    ].filter(Boolean);
    return [json.type, ...bounds].join(', ');
  }
  if (json.format === 'email') return 'email address';
  if (json.format === 'uri') return 'URL';
  if (json.minLength !== undefined && json.minLength > 1) return `string, ≥ ${json.minLength} characters`;
  return 'string';
}

function shownDefault(name: string, schema: Schema): string {
  if (SHOWN_DEFAULTS[name]) return SHOWN_DEFAULTS[name];
  const { hasDefault, defaultValue } = unwrap(schema);
  if (!hasDefault) return '—';
  if (defaultValue === '') return 'empty';
  return code(defaultValue);
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(schema: EnvSchema, names: readonly string[]): string {
  const rows = names.map((name) => {
    const field = schema.shape[name]!;
    return `| ${code(name)} | ${cell(shownDefault(name, field))} | ${cell(accepted(field))} | ${cell(field.description ?? '')} |`;
  });
  return ['| variable | default | accepts | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** Variables of a schema that have no `.describe()` text. */
export function undescribed(schema: EnvSchema): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !field.description?.trim())
    .map(([name]) => name);
}

/** The page as the schemas make it now. */
export function renderSettingsDoc(
  gateway: EnvSchema = gatewaySchema,
  auditCli: EnvSchema = auditCliSchema,
): string {
  const names = Object.keys(gateway.shape);
  const sections = GATEWAY_SECTIONS.map((section) => ({
    ...section,
    names: names.filter(section.test),
  }));
  return [
    '# Settings',
    '',
    '<!-- Generated by `npm run docs:settings` from the zod schemas in functions/src/config.ts and',
    '     functions/src/cli/auditCliConfig.ts. Do not edit: change the `.describe()` text there. -->',
    '',
    'Every setting is an environment variable, parsed and validated once at cold start',
    '(`functions/src/config.ts`); a bad value stops the start with a message naming the variable. "—" means',
    'no default: the variable is optional, or required where its meaning says so. On Cloud Run (`K_SERVICE`',
    'set) the development defaults are refused. `FIRESTORE_EMULATOR_HOST` and `PUBSUB_EMULATOR_HOST` (set by',
    '`npm start` and the tests) point the Google clients at the emulators.',
    '',
    "Elsewhere: the local stack's ports and knobs in [local-stack.md](local-stack.md); the Terraform variables",
    'that set these in production, and the environment each function gets, in',
    '[terraform/README.md](../terraform/README.md).',
    '',
    ...sections.map((s) => `- [${s.title}](#${s.title.toLowerCase().replaceAll(' ', '-')})`),
    '- [Audit commands](#audit-commands) (`npm run audit:*`)',
    '',
    ...sections.flatMap((s) => [`## ${s.title}`, '', s.intro, '', table(gateway, s.names), '']),
    '## Audit commands',
    '',
    "The `npm run audit:*` commands run on an operator's or auditor's machine and read their own variables",
    '(`functions/src/cli/auditCliConfig.ts`); what the commands do: [audit.md](audit.md#the-audit-commands).',
    '',
    table(auditCli, Object.keys(auditCli.shape)),
    '',
  ].join('\n');
}

/** Whether docs/settings.md differs from what the schemas make now. */
export function settingsDocIsStale(file = SETTINGS_DOC): boolean {
  try {
    return readFileSync(file, 'utf8') !== renderSettingsDoc();
  } catch {
    return true;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const missing = [...undescribed(gatewaySchema), ...undescribed(auditCliSchema)];
  if (missing.length > 0) {
    console.error(`no .describe() text for: ${missing.join(', ')}`);
    process.exit(1);
  }
  writeFileSync(SETTINGS_DOC, renderSettingsDoc());
  console.log(`wrote ${path.relative(PROJECT_ROOT, SETTINGS_DOC)}`);
}
