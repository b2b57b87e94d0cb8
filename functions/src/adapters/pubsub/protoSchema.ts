import protobuf from 'protobufjs';
import { z } from 'zod';
import type { MessageContract } from '../../core/review/messageContracts.js';

/**
 * A message contract's Pub/Sub schema: a proto3 definition (one top-level message, nested enums, no
 * imports, as Pub/Sub requires) derived from the contract's zod schema, and a check of a JSON message
 * against that definition by the rules Pub/Sub applies to a topic whose schema encoding is JSON (the proto3
 * JSON mapping). The publisher runs the check before every publish, so a message the topic would refuse is
 * caught here too, on the emulator, which does not enforce topic schemas.
 *
 * Mapping: string → string (formats and patterns stay with zod), integer and the `schemaVersion` literal →
 * int32, boolean → bool, string enum → nested enum (`<FIELD>_UNSPECIFIED = 0`, then the values as they are
 * spelled), nullable → proto3 `optional`. Field names are the camelCase keys in snake_case; the proto3 JSON
 * name of each is the camelCase key again.
 */

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  minimum?: number;
  maximum?: number;
};

type ProtoField = {
  key: string;
  number: number;
  optional: boolean;
  type: 'string' | 'int32' | 'bool' | { enumName: string; values: string[] };
};

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const pascal = (key: string) => key[0]!.toUpperCase() + key.slice(1);
const INT32 = { min: -2_147_483_648, max: 2_147_483_647 };

function protoFields(contract: MessageContract): ProtoField[] {
  const schema = z.toJSONSchema(contract.schema) as JsonSchema;
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const unnumbered = Object.keys(properties).filter((key) => !(key in contract.fieldNumbers));
  if (unnumbered.length > 0) {
    throw new Error(
      `${contract.messageName}: no field number for ${unnumbered.join(', ')} (messageContracts.ts)`,
    );
  }
  const numbers = Object.values(contract.fieldNumbers);
  const reused = numbers.filter((n, i) => numbers.indexOf(n) !== i || contract.retired.includes(n));
  if (reused.length > 0)
    throw new Error(`${contract.messageName}: field numbers reused: ${reused.join(', ')}`);

  return Object.entries(properties).map(([key, property]) => {
    const nonNull = property.anyOf?.filter((s) => s.type !== 'null') ?? [property];
    if (nonNull.length !== 1) throw new Error(`${contract.messageName}.${key}: unsupported union`);
    const inner = nonNull[0]!;
    const optional = property.anyOf !== undefined || !required.has(key);
    return { key, number: contract.fieldNumbers[key]!, optional, type: scalarType(contract, key, inner) };
  });
}

function scalarType(contract: MessageContract, key: string, s: JsonSchema): ProtoField['type'] {
  // Enum value names must be identifiers (`review.decided` is not): such an enum stays a string in the
  // Pub/Sub schema, and zod alone holds it to its values.
  if (
    s.type === 'string' &&
    s.enum?.every((v) => typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v))
  ) {
    return { enumName: pascal(key), values: s.enum.map(String) };
  }
  if (s.type === 'string') return 'string';
  if (s.type === 'boolean') return 'bool';
  const integral = s.type === 'integer' || (s.type === 'number' && Number.isInteger(s.const));
  if (integral) {
    const min = typeof s.const === 'number' ? s.const : s.minimum;
    const max = typeof s.const === 'number' ? s.const : s.maximum;
    if (min === undefined || max === undefined || min < INT32.min || max > INT32.max) {
      throw new Error(`${contract.messageName}.${key}: an integer needs bounds within int32`);
    }
    return 'int32';
  }
  throw new Error(`${contract.messageName}.${key}: no Pub/Sub schema mapping for ${JSON.stringify(s)}`);
}

/** The proto3 definition Terraform attaches to the contract's topic (terraform/schemas/<topic>.proto). */
export function protoDefinition(contract: MessageContract): string {
  const fields = protoFields(contract);
  const lines = [
    '// Generated from the zod schema in functions/src/core/review/ by `npm run asyncapi`; do not edit.',
    `// Pub/Sub schema of the ${contract.defaultTopic} topic (JSON encoding). Revision policy: docs/events.md.`,
    'syntax = "proto3";',
    '',
    `message ${contract.messageName} {`,
  ];
  for (const field of fields) {
    if (typeof field.type === 'object') {
      const prefix = snake(field.key).toUpperCase();
      lines.push(`  enum ${field.type.enumName} {`, `    ${prefix}_UNSPECIFIED = 0;`);
      field.type.values.forEach((value, i) => {
        lines.push(`    ${value} = ${i + 1};`);
      });
      lines.push('  }');
    }
  }
  if (contract.retired.length > 0) lines.push(`  reserved ${contract.retired.join(', ')};`);
  for (const field of fields) {
    const type = typeof field.type === 'object' ? field.type.enumName : field.type;
    lines.push(`  ${field.optional ? 'optional ' : ''}${type} ${snake(field.key)} = ${field.number};`);
  }
  lines.push('}', '');
  return lines.join('\n');
}

export type ProtoJsonProblem = { path: string; message: string };

/**
 * Checks a JSON message against a proto3 definition as the proto3 JSON mapping reads it: every key must be a
 * field (by its JSON name or its proto name), `null` stands for "unset", strings, bools, int32 numbers (or
 * their decimal strings) and enum value names (or numbers) in their fields. Unknown fields are refused.
 */
export function protoJsonValidator(definition: string): (message: unknown) => ProtoJsonProblem[] {
  const root = protobuf.parse(definition, { keepCase: true }).root;
  const types = root.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
  if (types.length !== 1) throw new Error('a Pub/Sub schema has exactly one top-level message');
  const type = types[0]!;
  type.resolveAll();
  const byJsonName = new Map<string, protobuf.Field>();
  for (const field of type.fieldsArray) {
    byJsonName.set(field.name, field);
    byJsonName.set(
      field.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
      field,
    );
  }
  return (message) => {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      return [{ path: '', message: `expected a JSON object for ${type.name}` }];
    }
    const problems: ProtoJsonProblem[] = [];
    for (const [key, value] of Object.entries(message)) {
      const field = byJsonName.get(key);
      if (!field) {
        problems.push({ path: key, message: `${type.name} has no field ${key}` });
        continue;
      }
      const problem = value === null ? null : valueProblem(field, value);
      if (problem) problems.push({ path: key, message: problem });
    }
    return problems;
  };
}

function valueProblem(field: protobuf.Field, value: unknown): string | null {
  if (field.resolvedType instanceof protobuf.Enum) {
    const values = field.resolvedType.values;
    if (typeof value === 'string' && value in values) return null;
    if (typeof value === 'number' && Object.values(values).includes(value)) return null;
    return `not a value of enum ${field.resolvedType.name}`;
  }
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? null : 'expected a string';
    case 'bool':
      return typeof value === 'boolean' ? null : 'expected true or false';
    case 'int32': {
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      return typeof n === 'number' && Number.isInteger(n) && n >= INT32.min && n <= INT32.max
        ? null
        : 'expected an int32';
    }
    default:
      return `field type ${field.type} is not supported here`;
  }
}
