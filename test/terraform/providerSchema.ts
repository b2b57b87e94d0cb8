// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (${...}) are compared as the text hcl2json returns.
/**
 * The hashicorp/google provider's published schema, offline: `@cdktf/provider-google` is generated from the
 * provider's own schema (`terraform providers schema -json`) and ships it, as jsii type information, in its
 * `.jsii` file. Each resource is a class whose docs link to the registry page of `google_<type>`; its
 * `<Class>Config` interface lists the arguments, each documented with a link ending in `#<argument name>`;
 * an argument whose type is another data interface of the package is a nested block.
 *
 * `schemaProblems` checks every resource and data source of a parsed module against that schema: unknown
 * arguments and blocks, blocks written as arguments (or the reverse), and missing required arguments.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Body, TerraformModule } from './terraformModule.js';

export type BlockSchema = {
  attributes: Map<string, { required: boolean }>;
  blocks: Map<string, { required: boolean; schema: BlockSchema }>;
};

export type ProviderSchema = {
  /** The provider release the package was generated from, e.g. 6.50.0. */
  version: string;
  resources: Map<string, BlockSchema>;
  dataSources: Map<string, BlockSchema>;
};

/**
 * Arguments our configuration uses that hashicorp/google 6.50.0 (the schema the package carries) does not
 * have, because they arrived in 7.x; `versions.tf` requires >= 7.45. Each entry says why we rely on it.
 * Keyed `resource type` → argument paths (`block.argument`). Empty while the module uses none.
 */
export const ARGUMENTS_NEWER_THAN_SCHEMA: Readonly<Record<string, readonly string[]>> = {};

/** Resource types of other providers in the module (not checked here). */
const OTHER_PROVIDERS = /^(time|archive)_/;

/**
 * Resources that exist only in google-beta, whose schema the package does not carry; each must say
 * `provider = google-beta`. `terraform validate` (Cloud Build) checks their arguments.
 */
const BETA_ONLY: ReadonlySet<string> = new Set([
  'google_project_service_identity', // the Pub/Sub service agent (pubsub.tf)
]);

/** Terraform's meta-arguments and blocks, valid on every resource. */
const META = new Set([
  'count',
  'for_each',
  'depends_on',
  'lifecycle',
  'provider',
  'provisioner',
  'connection',
]);

type JsiiTypeRef = {
  fqn?: string;
  primitive?: string;
  collection?: { kind: 'array' | 'map'; elementtype: JsiiTypeRef };
  union?: { types: JsiiTypeRef[] };
};
type JsiiProperty = { name: string; optional?: boolean; type: JsiiTypeRef; docs?: Record<string, string> };
type JsiiType = {
  fqn: string;
  kind: 'class' | 'interface' | 'enum';
  datatype?: boolean;
  properties?: JsiiProperty[];
  docs?: Record<string, string>;
};

let cached: ProviderSchema | undefined;

/** Parses the package's `.jsii` (about 100 MB: a few seconds, once per process). */
export function loadProviderSchema(): ProviderSchema {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@cdktf/provider-google/package.json'));
  const assembly = JSON.parse(readFileSync(path.join(dir, '.jsii'), 'utf8')) as {
    types: Record<string, JsiiType>;
  };
  const types = assembly.types;
  const memo = new Map<string, BlockSchema>();

  const structOf = (ref: JsiiTypeRef): string | null => {
    if (ref.fqn && types[ref.fqn]?.datatype) return ref.fqn;
    if (ref.collection?.kind === 'array') return structOf(ref.collection.elementtype);
    for (const member of ref.union?.types ?? []) {
      const found = structOf(member);
      if (found) return found;
    }
    return null;
  };

  const blockSchema = (fqn: string): BlockSchema => {
    const known = memo.get(fqn);
    if (known) return known;
    const schema: BlockSchema = { attributes: new Map(), blocks: new Map() };
    memo.set(fqn, schema);
    for (const property of types[fqn]?.properties ?? []) {
      const docs = `${property.docs?.remarks ?? ''} ${property.docs?.summary ?? ''}`;
      const name = /#([a-z0-9_]+) /.exec(docs)?.[1] ?? snakeCase(property.name);
      const required = property.optional !== true;
      const struct = structOf(property.type);
      if (struct) schema.blocks.set(name, { required, schema: blockSchema(struct) });
      else schema.attributes.set(name, { required });
    }
    return schema;
  };

  let version = '';
  const resources = new Map<string, BlockSchema>();
  const dataSources = new Map<string, BlockSchema>();
  const link =
    /^Represents a \{@link https:\/\/registry\.terraform\.io\/providers\/hashicorp\/google\/([\d.]+)\/docs\/(resources|data-sources)\/\w+ (google_\w+)\}/;
  for (const type of Object.values(types)) {
    if (type.kind !== 'class') continue;
    const m = link.exec(type.docs?.summary ?? '');
    if (!m) continue;
    version = m[1]!;
    const config = types[`${type.fqn}Config`];
    if (!config) continue;
    (m[2] === 'resources' ? resources : dataSources).set(m[3]!, blockSchema(config.fqn));
  }
  if (resources.size === 0) throw new Error('@cdktf/provider-google: no resource schema found in .jsii');
  cached = { version, resources, dataSources };
  return cached;
}

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Every argument of every google resource and data source that the schema does not accept. */
export function schemaProblems(
  module: TerraformModule,
  schema: ProviderSchema = loadProviderSchema(),
): string[] {
  const problems: string[] = [];
  const check = (kind: 'resource' | 'data', address: string, body: Body) => {
    const type = address.slice(0, address.indexOf('.'));
    if (OTHER_PROVIDERS.test(type)) return;
    if (BETA_ONLY.has(type)) {
      if (body.provider !== '${google-beta}')
        problems.push(`${address}: ${type} needs provider = google-beta`);
      return;
    }
    const known = (kind === 'resource' ? schema.resources : schema.dataSources).get(type);
    if (!known) {
      problems.push(`${kind} ${address}: google ${schema.version} has no ${kind} type ${type}`);
      return;
    }
    const newer = new Set(ARGUMENTS_NEWER_THAN_SCHEMA[type] ?? []);
    checkBlock(`${kind === 'data' ? 'data.' : ''}${address}`, body, known, '', newer, problems, true);
  };
  for (const [address, body] of module.resources) check('resource', address, body);
  for (const [address, body] of module.data) check('data', address, body);
  return problems;
}

function checkBlock(
  where: string,
  body: Body,
  schema: BlockSchema,
  prefix: string,
  newer: Set<string>,
  problems: string[],
  topLevel: boolean,
): void {
  const present = new Set<string>();
  for (const [key, value] of Object.entries(body)) {
    if (topLevel && META.has(key)) continue;
    if (key === 'dynamic') {
      for (const [name, generators] of Object.entries(value as Record<string, Body[]>)) {
        const block = schema.blocks.get(name);
        if (!block) {
          problems.push(`${where}: no block ${prefix}${name} (dynamic)`);
          continue;
        }
        present.add(name);
        for (const generator of generators) {
          for (const content of (generator.content as Body[] | undefined) ?? []) {
            checkBlock(where, content, block.schema, `${prefix}${name}.`, newer, problems, false);
          }
        }
      }
      continue;
    }
    present.add(key);
    const path = `${prefix}${key}`;
    if (newer.has(path)) continue;
    const block = schema.blocks.get(key);
    if (block) {
      if (!Array.isArray(value) || !value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
        problems.push(`${where}: ${path} is a block, written as an argument`);
        continue;
      }
      for (const item of value as Body[])
        checkBlock(where, item, block.schema, `${path}.`, newer, problems, false);
    } else if (!schema.attributes.has(key)) {
      problems.push(`${where}: unknown argument ${path}`);
    }
  }
  for (const [name, attribute] of schema.attributes) {
    if (attribute.required && !present.has(name) && !newer.has(`${prefix}${name}`))
      problems.push(`${where}: required argument ${prefix}${name} is missing`);
  }
  for (const [name, block] of schema.blocks) {
    if (block.required && !present.has(name))
      problems.push(`${where}: required block ${prefix}${name} is missing`);
  }
}
