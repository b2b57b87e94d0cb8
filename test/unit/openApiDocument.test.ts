import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';
import { staleArtefacts } from '../../functions/dev/openapi.js';
import { buildOpenApiDocument } from '../../functions/src/http/contract/openApiDocument.js';

/**
 * The OpenAPI document: linted by Redocly CLI with no finding, published artefacts in step with the code, and
 * in agreement with the prose contract (`shared/API.md`, beside the repository) where clients depend on it
 * most: the status table of `POST /v1/inferences` and the fields of the inference resource and ReviewItem.
 */

type Json = Record<string, unknown>;
type Schema = { properties?: Record<string, Schema>; required?: string[]; enum?: string[]; $ref?: string };

const document = JSON.parse(JSON.stringify(buildOpenApiDocument())) as Json & {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { headers?: Record<string, { required?: boolean }> }> }>
  >;
  components: { schemas: Record<string, Schema> };
};
const schemas = document.components.schemas;

/** Runs Redocly CLI's linter (redocly.yaml) on a document; its findings. */
async function redoclyLint(
  doc: unknown,
): Promise<{ totals: { errors: number; warnings: number }; problems: unknown[] }> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'openapi-lint-')), 'openapi.json');
  writeFileSync(file, JSON.stringify(doc));
  const cli = path.join(
    path.dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')),
    'bin/cli.js',
  );
  const run = promisify(execFile);
  const args = [cli, 'lint', file, '--config', path.join(PROJECT_ROOT, 'redocly.yaml'), '--format=json'];
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  const { stdout } = await run(process.execPath, args, { env, maxBuffer: 16 * 1024 * 1024 }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return JSON.parse(stdout);
}

describe('OpenAPI document: lint', function () {
  this.timeout(60_000);

  it('has no finding under Redocly recommended-strict', async () => {
    const result = await redoclyLint(document);
    assert.deepEqual(result.problems, []);
    assert.equal(result.totals.errors, 0);
  });

  it('the linter does find a broken document (an example that fails its schema)', async () => {
    const broken = structuredClone(document) as Json & { paths: Json };
    const media = (broken.paths['/v1/inferences'] as Json & { post: Json }).post as Json & {
      responses: Json;
    };
    const ok = (media.responses['200'] as Json & { content: Json }).content['application/json'] as Json & {
      examples: Record<string, { value: Json }>;
    };
    ok.examples.completed!.value = { ...ok.examples.completed!.value, status: 'done' };
    const result = await redoclyLint(broken);
    assert.ok(result.totals.errors > 0);
  });
});

describe('OpenAPI document: published artefacts', () => {
  it('docs/openapi.json and functions/client/schema.d.ts are what `npm run openapi` makes now', async () => {
    assert.deepEqual(await staleArtefacts(), [], 'out of date: run `npm run openapi` and commit the result');
  });
});

/** shared/API.md: beside the repository (`../shared`), or beside a folder above it. */
function findApiMd(): string | undefined {
  for (let dir = PROJECT_ROOT; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, '..', 'shared', 'API.md');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** The part of API.md under a `###` heading that starts with `heading`, up to the next heading. */
function section(md: string, heading: string): string {
  const start = md.indexOf(`\n### ${heading}`);
  assert.ok(start >= 0, `API.md has no section "${heading}"`);
  const end = md.indexOf('\n### ', start + 1);
  return md.slice(start, end < 0 ? undefined : end);
}

const firstJsonBlock = (text: string): Json => JSON.parse(/```json\n([\s\S]*?)```/.exec(text)![1]!);
const alternatives = (text: string) =>
  text
    .split('|')
    .map((s) => s.trim())
    .sort();
const resolve = (schema: Schema): Schema =>
  schema.$ref ? schemas[schema.$ref.replace('#/components/schemas/', '')]! : schema;
/** The enum of a property, through `anyOf` with null. */
function enumOf(schema: Schema): string[] {
  const s = resolve(schema) as Schema & { anyOf?: Schema[] };
  return (s.enum ?? s.anyOf?.flatMap((alt) => resolve(alt).enum ?? []) ?? [])
    .filter((v) => v !== null)
    .sort();
}
const propertiesOf = (name: string) => Object.keys(schemas[name]!.properties!).sort();

describe('OpenAPI document agrees with shared/API.md', () => {
  let md: string;
  before(function () {
    const file = findApiMd();
    if (!file) this.skip();
    md = readFileSync(file!, 'utf8');
  });

  it('POST /v1/inferences: the same statuses as the table and the section text, the headers each row names', () => {
    const text = section(md, '`POST /v1/inferences`');
    const rows = [...text.matchAll(/^\| `(\d{3})` \| (.*) \|$/gm)].map(([, status, when]) => ({
      status: status!,
      when: when!,
    }));
    assert.ok(rows.length >= 5, 'the status table was found');
    const prose = text.replace(/^\|.*$/gm, '');
    const mentioned = [...prose.matchAll(/`(\d{3})`/g)].map((m) => m[1]!);
    // 401 and 403 come from the authentication section (every /v1 request); 500 is the unexpected failure
    // the prose does not list.
    const expected = new Set([...rows.map((r) => r.status), ...mentioned, '401', '403', '500']);
    const responses = document.paths['/v1/inferences']!.post!.responses;
    assert.deepEqual(Object.keys(responses).sort(), [...expected].sort());

    const known = new Set(
      Object.values(document.paths).flatMap((item) =>
        Object.values(item).flatMap((op) =>
          Object.values(op.responses ?? {}).flatMap((r) => Object.keys(r.headers ?? {})),
        ),
      ),
    );
    for (const row of rows) {
      const named = [...row.when.matchAll(/`([A-Za-z-]+)(?::[^`]*)?`/g)]
        .map((m) => m[1]!)
        .filter((h) => known.has(h));
      for (const header of named) {
        assert.equal(
          responses[row.status]!.headers?.[header]?.required,
          true,
          `${row.status} documents ${header}`,
        );
      }
    }
    assert.match(text, /`Idempotent-Replayed: true`/);
    for (const status of ['200', '202'])
      assert.ok(responses[status]!.headers?.['Idempotent-Replayed'], status);
  });

  it('the inference resource: the same fields, statuses and review states', () => {
    const text = section(md, '`POST /v1/inferences`');
    const resource = firstJsonBlock(text.slice(text.indexOf('The inference resource')));
    assert.deepEqual(propertiesOf('Inference'), Object.keys(resource).sort());
    assert.deepEqual(schemas.Inference!.required!.sort(), Object.keys(resource).sort());
    assert.deepEqual(enumOf(schemas.Inference!.properties!.status!), alternatives(String(resource.status)));
    const review = JSON.parse(/`review`, once a review exists: `(\{[^`]*\})`/.exec(text)![1]!) as Json;
    assert.deepEqual(propertiesOf('InferenceReview'), Object.keys(review).sort());
    assert.deepEqual(enumOf(schemas.InferenceReview!.properties!.state!), alternatives(String(review.state)));
  });

  it('ReviewItem: the same fields, states and decision fields', () => {
    const item = firstJsonBlock(section(md, '`GET /v1/reviews'));
    assert.deepEqual(propertiesOf('ReviewItem'), Object.keys(item).sort());
    assert.deepEqual(schemas.ReviewItem!.required!.sort(), Object.keys(item).sort());
    assert.deepEqual(enumOf(schemas.ReviewItem!.properties!.state!), alternatives(String(item.state)));
    const decisionFields = /\{([^}]*)\}/
      .exec(String(item.decision))![1]!
      .split(',')
      .map((s) => s.trim())
      .sort();
    assert.deepEqual(propertiesOf('ReviewDecision'), decisionFields);
  });
});
