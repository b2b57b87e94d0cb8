/**
 * `npm run asyncapi`: writes what is derived from the message contracts (functions/src/core/review/
 * messageContracts.ts), so that none of it can drift from the zod schemas the code publishes with:
 *
 *   docs/asyncapi.json                AsyncAPI 3.0: channels, operations, messages, payload schemas,
 *                                     attributes, Google Pub/Sub bindings
 *   terraform/schemas/<topic>.proto   the Pub/Sub schema Terraform attaches to each topic
 *
 * `npm run asyncapi -- --check` writes nothing and fails if a file is not what the contracts give
 * (test/unit/messageContracts.test.ts runs the same comparison in `npm test`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { protoDefinition } from '../src/adapters/pubsub/protoSchema.js';
import { type MessageContract, messageContracts } from '../src/core/review/messageContracts.js';
import { PROJECT_ROOT } from './emulators.js';

const RETENTION = '604800s'; // terraform/pubsub.tf: every topic keeps messages a week

const channelId = (c: MessageContract) => c.topicKey.replace(/_(\w)/g, (_, ch: string) => ch.toUpperCase());
export const protoFile = (c: MessageContract) => join('terraform', 'schemas', `${c.defaultTopic}.proto`);

/** Example payloads, each checked against its contract's zod schema when the document is built. */
const examples: Record<MessageContract['topicKey'], { name: string; summary: string; payload: object }[]> = {
  review_requests: [
    {
      name: 'request',
      summary: 'An inference waits for review',
      payload: { schemaVersion: 1, inferenceId: 'inf_01JDZ8X3K6Q2', tenant: 'acme' },
    },
  ],
  review_escalations: [
    {
      name: 'overdue',
      summary: 'An item passed its due time undecided',
      payload: {
        schemaVersion: 1,
        reviewId: 'rev_01JDZ8X3K6Q2',
        inferenceId: 'inf_01JDZ8X3K6Q2',
        tenant: 'acme',
        task: 'medication-extraction',
        dueAt: '2026-12-01T14:00:00.000Z',
        escalatedAt: '2026-12-01T14:00:03.120Z',
      },
    },
  ],
  review_events: [
    {
      name: 'decided',
      summary: 'A reviewer edited the proposal (the decision a subscriber acts on)',
      payload: {
        schemaVersion: 1,
        eventId: '6f1c1a0e-3b8e-4c55-9d7a-2f0b8c1e4a11',
        eventType: 'review.decided',
        occurredAt: '2026-12-01T10:12:41.532Z',
        reviewId: 'rev_01JDZ8X3K6Q2',
        inferenceId: 'inf_01JDZ8X3K6Q2',
        tenant: 'acme',
        task: 'medication-extraction',
        state: 'edited',
        sequence: 4,
        dueAt: '2026-12-01T14:00:00.000Z',
        escalated: false,
        sampled: false,
        reviewer: 'rita',
        action: 'edit',
        reasonCode: 'incomplete',
      },
    },
    {
      name: 'claimed',
      summary: 'A reviewer took the item',
      payload: {
        schemaVersion: 1,
        eventId: '0b7d2c55-9a41-4f0e-8d63-5e2a9c7f1b30',
        eventType: 'review.claimed',
        occurredAt: '2026-12-01T10:09:02.004Z',
        reviewId: 'rev_01JDZ8X3K6Q2',
        inferenceId: 'inf_01JDZ8X3K6Q2',
        tenant: 'acme',
        task: 'medication-extraction',
        state: 'claimed',
        sequence: 3,
        dueAt: '2026-12-01T14:00:00.000Z',
        escalated: false,
        sampled: false,
        reviewer: 'rita',
        action: null,
        reasonCode: null,
      },
    },
  ],
};

function attributesOf(payload: Record<string, unknown>, c: MessageContract): Record<string, string> {
  return Object.fromEntries(
    Object.entries(c.attributes).map(([name, a]) => [
      name,
      a.enum?.length === 1 ? a.enum[0]! : String(payload[name]),
    ]),
  );
}

function payloadSchema(c: MessageContract): Record<string, unknown> {
  const { $schema: _, ...schema } = z.toJSONSchema(c.schema, { target: 'draft-07' }) as Record<
    string,
    unknown
  >;
  return schema;
}

function headersSchema(c: MessageContract) {
  return {
    type: 'object',
    description: 'Pub/Sub message attributes (all strings); subscription filters can use them.',
    required: Object.keys(c.attributes),
    additionalProperties: false,
    properties: Object.fromEntries(
      Object.entries(c.attributes).map(([name, a]) => [
        name,
        { type: 'string', description: a.description, ...(a.enum ? { enum: [...a.enum] } : {}) },
      ]),
    ),
  };
}

export function asyncApiDocument(version: string): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const c of messageContracts) {
    const id = channelId(c);
    const schemaName = `projects/{project}/schemas/${c.defaultTopic}`;
    channels[id] = {
      address: `projects/{project}/topics/${c.defaultTopic}`,
      title: c.title,
      description: `${c.description}\n\nPublished by ${c.publishedBy}.`,
      parameters: { project: { description: 'The Google Cloud project the gateway runs in.' } },
      messages: { [c.messageName]: { $ref: `#/components/messages/${c.messageName}` } },
      bindings: {
        googlepubsub: {
          bindingVersion: '0.2.0',
          messageRetentionDuration: RETENTION,
          // Every revision of the schema is accepted (the revision policy keeps them compatible).
          schemaSettings: { encoding: 'json', name: schemaName },
        },
      },
    };
    operations[`send${c.messageName}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${id}` },
      title: `Publish ${c.title.toLowerCase()}`,
      summary: `The gateway publishes: ${c.publishedBy}.`,
      messages: [{ $ref: `#/channels/${id}/messages/${c.messageName}` }],
    };
    messages[c.messageName] = {
      name: c.messageName,
      title: c.title,
      summary: c.description,
      contentType: 'application/json',
      headers: headersSchema(c),
      payload: payloadSchema(c),
      bindings: {
        googlepubsub: {
          bindingVersion: '0.2.0',
          schema: { name: schemaName },
          ...(c.orderingKey ? { orderingKey: c.orderingKey } : {}),
        },
      },
      examples: examples[c.topicKey].map((e) => ({
        name: e.name,
        summary: e.summary,
        headers: attributesOf(c.schema.parse(e.payload) as Record<string, unknown>, c),
        payload: e.payload,
      })),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Clinical AI inference gateway: Pub/Sub topics',
      version,
      description:
        'The topics the gateway publishes to. Messages carry ids, tenant, task, states and times, never ' +
        'clinical text. Every topic has a Pub/Sub schema (Protocol Buffers, JSON encoding) generated from ' +
        'the same schemas as this document. Guide: docs/events.md. Generated by `npm run asyncapi`; do not edit.',
    },
    defaultContentType: 'application/json',
    servers: {
      production: {
        host: 'pubsub.googleapis.com',
        protocol: 'googlepubsub',
        description: 'Google Cloud Pub/Sub; subscribe with the subscription Terraform made for your group.',
      },
      local: {
        host: '127.0.0.1:8185',
        protocol: 'googlepubsub',
        description: 'The Pub/Sub emulator of the local stack (`npm start`), project demo-clinical-gateway.',
      },
    },
    channels,
    operations,
    components: { messages },
  };
}

/** Every generated file with its expected content. */
export function generatedFiles(): { path: string; content: string }[] {
  const version = (
    JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;
  return [
    {
      path: join('docs', 'asyncapi.json'),
      content: formatted('docs/asyncapi.json', asyncApiDocument(version)),
    },
    ...messageContracts.map((c) => ({ path: protoFile(c), content: protoDefinition(c) })),
  ];
}

/** The JSON as the project's formatter (Biome, `npm run lint`) writes it, so the lint and this agree. */
function formatted(path: string, value: unknown): string {
  // process.execPath: the project's Node, which runs Biome's launcher (it starts the platform binary).
  return execFileSync(
    process.execPath,
    [
      join(PROJECT_ROOT, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'),
      'format',
      `--stdin-file-path=${path}`,
    ],
    {
      cwd: PROJECT_ROOT,
      input: JSON.stringify(value),
      encoding: 'utf8',
    },
  );
}

function main(): void {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  const stale: string[] = [];
  for (const file of generatedFiles()) {
    const absolute = join(PROJECT_ROOT, file.path);
    let current: string | null = null;
    try {
      current = readFileSync(absolute, 'utf8');
    } catch {
      current = null;
    }
    if (current === file.content) continue;
    if (values.check) stale.push(file.path);
    else {
      writeFileSync(absolute, file.content);
      console.log(`wrote ${file.path}`);
    }
  }
  if (stale.length > 0) {
    console.error(`out of date (run npm run asyncapi): ${stale.join(', ')}`);
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
