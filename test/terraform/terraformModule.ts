/**
 * The Terraform root module (terraform/*.tf) as data, for policy tests that need no provider download:
 * every file parsed with @cdktf/hcl2json (HashiCorp's HCL parser compiled to WebAssembly) and merged.
 *
 * hcl2json keeps literals as JSON and every expression as its source text wrapped in `${...}`. The tests
 * check that text where the wiring is structural (which local a resource iterates over, which account it
 * grants), and evaluate it with `evaluateTemplate` where the value matters (the log filters): a deliberately
 * small evaluator that resolves `local.*`, `var.*` defaults and `each.*` references, and refuses anything
 * else, so a change to an expression it cannot read fails loudly instead of passing unchecked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';

export const TERRAFORM_DIR = fileURLToPath(new URL('../../terraform/', import.meta.url));

export type Body = Record<string, unknown>;

export type TerraformModule = {
  dir: string;
  files: string[];
  variables: Map<string, Body>;
  locals: Map<string, unknown>;
  /** Keyed `type.name`. */
  resources: Map<string, Body>;
  /** Keyed `type.name` (without the `data.` prefix). */
  data: Map<string, Body>;
  outputs: Map<string, Body>;
  /** The `terraform` blocks (required_providers, backend). */
  settings: Body[];
  providers: Map<string, Body>;
};

type ParsedFile = {
  variable?: Record<string, Body[]>;
  locals?: Body[];
  resource?: Record<string, Record<string, Body[]>>;
  data?: Record<string, Record<string, Body[]>>;
  output?: Record<string, Body[]>;
  terraform?: Body[];
  provider?: Record<string, Body[]>;
};

export async function loadTerraformModule(dir: string = TERRAFORM_DIR): Promise<TerraformModule> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort();
  const module: TerraformModule = {
    dir,
    files,
    variables: new Map(),
    locals: new Map(),
    resources: new Map(),
    data: new Map(),
    outputs: new Map(),
    settings: [],
    providers: new Map(),
  };
  for (const file of files) {
    const parsed = (await parse(file, readFileSync(path.join(dir, file), 'utf8'))) as ParsedFile;
    const claim = <T>(map: Map<string, T>, key: string, value: T, what: string) => {
      if (map.has(key)) throw new Error(`${file}: ${what} ${key} is defined twice`);
      map.set(key, value);
    };
    for (const [name, [body]] of entries(parsed.variable)) claim(module.variables, name, body!, 'variable');
    for (const block of parsed.locals ?? []) {
      for (const [name, value] of Object.entries(block)) claim(module.locals, name, value, 'local');
    }
    for (const [type, byName] of entries(parsed.resource)) {
      for (const [name, [body]] of entries(byName))
        claim(module.resources, `${type}.${name}`, body!, 'resource');
    }
    for (const [type, byName] of entries(parsed.data)) {
      for (const [name, [body]] of entries(byName))
        claim(module.data, `${type}.${name}`, body!, 'data source');
    }
    for (const [name, [body]] of entries(parsed.output)) claim(module.outputs, name, body!, 'output');
    for (const [name, [body]] of entries(parsed.provider)) claim(module.providers, name, body!, 'provider');
    module.settings.push(...(parsed.terraform ?? []));
  }
  return module;
}

const entries = <T>(record: Record<string, T> | undefined): [string, T][] => Object.entries(record ?? {});

export function resource(module: TerraformModule, address: string): Body {
  const body = module.resources.get(address);
  if (!body) throw new Error(`terraform: no resource ${address}`);
  return body;
}

export function resourcesOfType(module: TerraformModule, type: string): [string, Body][] {
  return [...module.resources].filter(([address]) => address.startsWith(`${type}.`));
}

export function local(module: TerraformModule, name: string): unknown {
  if (!module.locals.has(name)) throw new Error(`terraform: no local ${name}`);
  return module.locals.get(name);
}

/** The one nested block `name` of `body` (hcl2json makes every block a list). */
export function block(body: Body, name: string): Body {
  const blocks = body[name];
  if (!Array.isArray(blocks) || blocks.length !== 1) {
    throw new Error(`expected exactly one ${name} block, found ${Array.isArray(blocks) ? blocks.length : 0}`);
  }
  return blocks[0] as Body;
}

/** Every string anywhere in `value`: literals and expression texts. */
export function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

/** `${ expr }` → `expr`, for a value that is one whole expression; null for a literal. */
export function expressionOf(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const match = /^\$\{(.*)\}$/s.exec(value);
  return match ? match[1]!.trim() : null;
}

export type EvalContext = { each?: { key: string; value: unknown } };

/**
 * The value of a template string: `${local.a.b}`, `${var.x}` (its default), `${each.key}` and
 * `${each.value.x}` are substituted; a local defined as `jsondecode(file("${path.module}/REL"))` is that
 * file's JSON. Anything else throws.
 */
export function evaluateTemplate(
  module: TerraformModule,
  template: string,
  context: EvalContext = {},
): string {
  const result = template.replace(/\$\{([^${}]+)\}/g, (_, expr: string) => {
    const value = evaluateReference(module, expr.trim(), context);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new Error(`template ${JSON.stringify(template)}: ${expr} is not a primitive`);
    }
    return String(value);
  });
  if (result.includes('${')) {
    throw new Error(`template ${JSON.stringify(template)} has an expression this evaluator does not handle`);
  }
  return result;
}

export function evaluateReference(module: TerraformModule, expr: string, context: EvalContext = {}): unknown {
  const [root, ...path] = expr.split('.');
  if (!path.every((p) => /^[A-Za-z_][A-Za-z0-9_-]*$/.test(p))) {
    throw new Error(`unsupported expression ${expr}`);
  }
  let value: unknown;
  if (root === 'local') {
    value = localValue(module, path.shift()!, context);
  } else if (root === 'var') {
    const variable = module.variables.get(path.shift()!);
    if (!variable || !('default' in variable)) throw new Error(`${expr}: no such variable with a default`);
    value = variable.default;
  } else if (root === 'each' && context.each) {
    const which = path.shift();
    value = which === 'key' ? context.each.key : which === 'value' ? context.each.value : undefined;
  } else {
    throw new Error(`unsupported expression ${expr}`);
  }
  for (const key of path) {
    if (!value || typeof value !== 'object' || !(key in value))
      throw new Error(`${expr}: no attribute ${key}`);
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function localValue(module: TerraformModule, name: string, context: EvalContext): unknown {
  const raw = local(module, name);
  if (typeof raw !== 'string') return raw;
  const jsonFile = /^\$\{jsondecode\(file\("\$\{path\.module\}\/([^"]+)"\)\)\}$/.exec(raw);
  if (jsonFile) return JSON.parse(readFileSync(path.join(module.dir, jsonFile[1]!), 'utf8')) as unknown;
  return evaluateTemplate(module, expandJoins(module, raw, context), context);
}

/**
 * `${join("SEP", [for X in local.M : "TEMPLATE"])}` inside a template: the joined values, TEMPLATE evaluated
 * once per value of the map local.M with X bound to it (`${X.attr}` only).
 */
function expandJoins(module: TerraformModule, template: string, context: EvalContext): string {
  return template.replace(
    /\$\{join\("((?:[^"\\]|\\.)*)", \[for (\w+) in local\.(\w+) : "((?:[^"\\]|\\.)*)"\]\)\}/g,
    (_, separator: string, variable: string, collection: string, element: string) => {
      const values = localValue(module, collection, context);
      if (!values || typeof values !== 'object') throw new Error(`join over local.${collection}: not a map`);
      return Object.values(values as Record<string, unknown>)
        .map((value) =>
          hclUnescape(element).replace(new RegExp(`\\$\\{${variable}\\.(\\w+)\\}`, 'g'), (__, attr: string) =>
            String((value as Record<string, unknown>)[attr]),
          ),
        )
        .join(hclUnescape(separator));
    },
  );
}

const hclUnescape = (text: string) => text.replace(/\\(["\\])/g, '$1');

/** Every reference of the form `kind.name` (var, local, resource type, data.type) in the module's text. */
export function references(module: TerraformModule): {
  variables: Set<string>;
  locals: Set<string>;
  resources: Set<string>;
  data: Set<string>;
} {
  const all = stringsIn([
    ...module.variables.values(),
    ...module.locals.values(),
    ...module.resources.values(),
    ...module.data.values(),
    ...module.outputs.values(),
    ...module.providers.values(),
  ]).filter((s) => s.includes('${'));
  const found = {
    variables: new Set<string>(),
    locals: new Set<string>(),
    resources: new Set<string>(),
    data: new Set<string>(),
  };
  for (const text of all) {
    for (const m of text.matchAll(/(?<![\w.])var\.([A-Za-z_][\w-]*)/g)) found.variables.add(m[1]!);
    for (const m of text.matchAll(/(?<![\w.])local\.([A-Za-z_][\w-]*)/g)) found.locals.add(m[1]!);
    for (const m of text.matchAll(/(?<![\w.])data\.((?:google|archive)[\w-]*\.[A-Za-z_][\w-]*)/g))
      found.data.add(m[1]!);
    for (const m of text.matchAll(/(?<![\w.])((?:google|archive)_[\w-]*\.[A-Za-z_][\w-]*)/g))
      found.resources.add(m[1]!);
  }
  return found;
}
