import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import type { PubSub } from '@google-cloud/pubsub';
import protobuf from 'protobufjs';
import { asyncApiDocument, generatedFiles } from '../../functions/dev/asyncapi.js';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';
import { protoDefinition, protoJsonValidator } from '../../functions/src/adapters/pubsub/protoSchema.js';
import {
  MessageContractError,
  PubSubReviewPublisher,
} from '../../functions/src/adapters/pubsub/pubSubReviewPublisher.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import { contractOf, messageContracts } from '../../functions/src/core/review/messageContracts.js';
import type { ReviewEventMessage } from '../../functions/src/core/review/reviewEvents.js';

type AsyncApiMessage = {
  payload: { properties: Record<string, unknown>; required: string[] };
  examples: { name: string; headers: Record<string, string>; payload: Record<string, unknown> }[];
};
const doc = asyncApiDocument('0.1.0') as { components: { messages: Record<string, AsyncApiMessage> } };

const decided = (): ReviewEventMessage =>
  structuredClone(
    doc.components.messages.ReviewEvent!.examples.find((e) => e.name === 'decided')!.payload,
  ) as ReviewEventMessage;

describe('message contracts: Pub/Sub schemas and the AsyncAPI document', () => {
  it('the committed AsyncAPI document and .proto files are what `npm run asyncapi` generates', () => {
    for (const file of generatedFiles()) {
      assert.equal(
        readFileSync(join(PROJECT_ROOT, file.path), 'utf8'),
        file.content,
        `${file.path} is out of date: run npm run asyncapi`,
      );
    }
  });

  it('the AsyncAPI document parses with @asyncapi/parser, with no error or warning', async () => {
    const { document, diagnostics } = await new Parser().parse(
      readFileSync(join(PROJECT_ROOT, 'docs', 'asyncapi.json'), 'utf8'),
    );
    // Severity 0 is an error, 1 a warning (2 and 3 are information and hints).
    const problems = diagnostics
      .filter((d) => d.severity <= 1)
      .map((d) => `${d.path.join('.')}: ${d.message}`);
    assert.deepEqual(problems, []);
    assert.ok(document);
    assert.equal(document.version(), '3.0.0');
    assert.deepEqual(
      document
        .channels()
        .all()
        .map((c) => c.address())
        .sort(),
      [
        'projects/{project}/topics/review-escalations',
        'projects/{project}/topics/review-events',
        'projects/{project}/topics/review-requests',
      ],
    );
    const events = document
      .channels()
      .all()
      .find((c) => c.address()?.endsWith('review-events'));
    assert.equal(events?.bindings().get('googlepubsub')?.value().schemaSettings.encoding, 'json');
  });

  it('the lifecycle message is documented field for field as the code builds it', () => {
    const message = doc.components.messages.ReviewEvent!;
    assert.deepEqual(Object.keys(message.payload.properties), Object.keys(decided()));
    assert.deepEqual(message.payload.required, Object.keys(decided()));
    assert.deepEqual(message.examples.find((e) => e.name === 'decided')!.headers, {
      tenant: 'acme',
      task: 'medication-extraction',
      eventType: 'review.decided',
      schemaVersion: '1',
    });
  });

  it('no message has a field that could carry clinical text', () => {
    const clinical = /^(input|output|text|note|proposal|summary|edited|prompt|response)/i;
    for (const c of messageContracts) {
      const fields = Object.keys(doc.components.messages[c.messageName]!.payload.properties);
      assert.deepEqual(
        fields.filter((f) => clinical.test(f)),
        [],
        c.messageName,
      );
    }
  });

  it('every Pub/Sub schema is one proto3 message whose field numbers are unique and never reused', () => {
    for (const c of messageContracts) {
      const root = protobuf.parse(protoDefinition(c), { keepCase: true }).root;
      const type = root.lookupType(c.messageName);
      const numbers = type.fieldsArray.map((f) => f.id);
      assert.equal(new Set(numbers).size, numbers.length, c.messageName);
      assert.deepEqual(
        Object.fromEntries(type.fieldsArray.map((f) => [f.name, f.id])),
        Object.fromEntries(
          Object.entries(c.fieldNumbers).map(([k, n]) => [
            k.replace(/[A-Z]/g, (x) => `_${x.toLowerCase()}`),
            n,
          ]),
        ),
      );
    }
    assert.throws(
      () =>
        protoDefinition({
          ...contractOf('review_events'),
          fieldNumbers: { ...contractOf('review_events').fieldNumbers, reasonCode: 2 },
        }),
      /field numbers reused: 2/,
    );
    assert.throws(
      () => protoDefinition({ ...contractOf('review_events'), fieldNumbers: { schemaVersion: 1 } }),
      /no field number for eventId/,
    );
  });

  describe('the local check against the Pub/Sub schema (proto3 JSON)', () => {
    const check = protoJsonValidator(protoDefinition(contractOf('review_events')));

    it('accepts every documented example and null for an unset field', () => {
      for (const c of messageContracts) {
        const validate = protoJsonValidator(protoDefinition(c));
        for (const example of doc.components.messages[c.messageName]!.examples) {
          assert.deepEqual(validate(example.payload), [], `${c.messageName} ${example.name}`);
        }
      }
      assert.deepEqual(check({ ...decided(), action: null, reasonCode: null, reviewer: null }), []);
    });

    it('refuses unknown fields, wrong types and values outside an enum, as the topic would', () => {
      assert.deepEqual(
        check({
          ...decided(),
          note: 'patient anxious',
          sequence: 1.5,
          escalated: 'no',
          action: 'approved',
        }).map((p) => p.path),
        ['sequence', 'escalated', 'action', 'note'],
      );
      assert.deepEqual(check([]), [{ path: '', message: 'expected a JSON object for ReviewEvent' }]);
    });
  });

  describe('PubSubReviewPublisher', () => {
    function publisherWithFakeTopics() {
      const published: { topic: string; message: Record<string, unknown> }[] = [];
      const resumed: string[] = [];
      let fail = false;
      const pubsub = {
        topic: (name: string) => ({
          publishMessage: async (message: Record<string, unknown>) => {
            if (fail) throw new Error('UNAVAILABLE');
            published.push({ topic: name, message });
            return '1';
          },
          resumePublishing: (key: string) => resumed.push(key),
        }),
      } as unknown as PubSub;
      const publisher = new PubSubReviewPublisher(
        pubsub,
        { requests: 'rq', escalations: 'esc', events: 'ev' },
        { timeoutMs: 1_000 },
      );
      return { publisher, published, resumed, failNext: () => (fail = true) };
    }

    it('publishes a lifecycle event ordered by review item, with the filter attributes', async () => {
      const { publisher, published } = publisherWithFakeTopics();
      await publisher.publishEvent(decided());
      assert.deepEqual(published, [
        {
          topic: 'ev',
          message: {
            json: decided(),
            attributes: {
              tenant: 'acme',
              task: 'medication-extraction',
              eventType: 'review.decided',
              schemaVersion: '1',
            },
            orderingKey: 'rev_01JDZ8X3K6Q2',
          },
        },
      ]);
    });

    it('refuses, before publishing, a message that breaks the zod or the Pub/Sub schema', async () => {
      const { publisher, published } = publisherWithFakeTopics();
      await assert.rejects(
        publisher.publishEvent({ ...decided(), note: 'patient anxious' } as ReviewEventMessage),
        (e: unknown) =>
          e instanceof MessageContractError && /note/.test(e.message) && !/anxious/.test(e.message),
      );
      await assert.rejects(
        publisher.publishEvent({ ...decided(), action: null }),
        (e: unknown) => e instanceof MessageContractError && /action/.test(e.message),
      );
      await assert.rejects(
        publisher.escalate({ schemaVersion: 1, tenant: 'acme' } as never),
        MessageContractError,
      );
      assert.deepEqual(published, []);
    });

    it('resumes the ordering key after a failed publish, so the outbox can publish it again', async () => {
      const { publisher, resumed, failNext } = publisherWithFakeTopics();
      failNext();
      await assert.rejects(publisher.publishEvent(decided()), (e: unknown) =>
        isGatewayError(e, 'dependency_unavailable'),
      );
      assert.deepEqual(resumed, ['rev_01JDZ8X3K6Q2']);
    });
  });
});
