// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (${...}) are compared as the text hcl2json returns.
/**
 * The message contract in Terraform: every published topic carries the Pub/Sub schema generated from the
 * zod schema the code publishes with, the review-events subscriptions order per item and dead-letter, and a
 * named subscriber group may consume from its own tenant-filtered subscription and do nothing else.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { protoDefinition } from '../../functions/src/adapters/pubsub/protoSchema.js';
import { messageContracts } from '../../functions/src/core/review/messageContracts.js';
import { functionsOf } from './checks.js';
import {
  type Body,
  block,
  evaluateReference,
  expressionOf,
  loadTerraformModule,
  local,
  resource,
  resourcesOfType,
  TERRAFORM_DIR,
  type TerraformModule,
} from './terraformModule.js';

describe('Terraform: the review-events topic and the message contract', () => {
  let tf: TerraformModule;
  before(async () => {
    tf = await loadTerraformModule();
  });

  it('attaches to every published topic the Pub/Sub schema generated from its zod schema, JSON-encoded', () => {
    const topics = local(tf, 'topics') as Record<string, string>;
    assert.deepEqual(
      stringList(local(tf, 'schema_topics')).sort(),
      messageContracts.map((c) => c.topicKey).sort(),
    );
    for (const contract of messageContracts) {
      assert.equal(topics[contract.topicKey], contract.defaultTopic, contract.topicKey);
      const file = path.join(TERRAFORM_DIR, 'schemas', `${contract.defaultTopic}.proto`);
      assert.equal(readFileSync(file, 'utf8'), protoDefinition(contract), `${file}: run npm run asyncapi`);
    }
    const schema = resource(tf, 'google_pubsub_schema.message');
    assert.equal(schema.for_each, '${local.schema_topics}');
    assert.equal(schema.type, 'PROTOCOL_BUFFER');
    assert.equal(schema.name, '${local.topics[each.key]}');
    assert.equal(schema.definition, '${file("${path.module}/schemas/${local.topics[each.key]}.proto")}');

    const topic = resource(tf, 'google_pubsub_topic.topic');
    const dynamic = block(topic.dynamic as Body, 'schema_settings');
    assert.match(String(dynamic.for_each), /contains\(local\.schema_topics, each\.key\)/);
    assert.match(String(dynamic.for_each), /google_pubsub_schema\.message\[each\.key\]\.id/);
    assert.deepEqual(block(dynamic, 'content'), { schema: '${schema_settings.value}', encoding: 'JSON' });
  });

  it('passes the topic to the functions, and lets exactly the functions that announce review steps publish', () => {
    const env = local(tf, 'managed_environment') as Record<string, string>;
    assert.equal(env.REVIEW_EVENTS_TOPIC, '${google_pubsub_topic.topic["review_events"].name}');
    const publishers = Object.entries(functionsOf(tf))
      .filter(([, fn]) => fn.publishes.includes('review_events'))
      .map(([key]) => key)
      .sort();
    // enqueued: review-intake; claimed and decided: reviewer-api; escalated and the outbox sweep: review-jobs.
    assert.deepEqual(publishers, ['review_intake', 'review_jobs', 'reviewer_api']);
  });

  it('the operators’ subscription is ordered and dead-letters to a topic whose one subscription keeps them', () => {
    const operators = resource(tf, 'google_pubsub_subscription.review_events_operators');
    assert.equal(operators.topic, '${google_pubsub_topic.topic["review_events"].id}');
    assert.equal(operators.enable_message_ordering, true);
    assert.equal(operators.name, '${local.subscriptions.review_events_operators}');
    assert.equal(
      evaluateReference(tf, 'local.subscriptions.review_events_operators'),
      'review-events-operators',
    );
    const deadLetterTopic = '${google_pubsub_topic.topic["review_events_dead_letter"].id}';
    assert.deepEqual(block(operators, 'dead_letter_policy'), {
      dead_letter_topic: deadLetterTopic,
      max_delivery_attempts: '${var.dead_letter_max_delivery_attempts}',
    });
    assert.equal(block(operators, 'expiration_policy').ttl, '');
    const holders = resourcesOfType(tf, 'google_pubsub_subscription').filter(
      ([, s]) => s.topic === deadLetterTopic,
    );
    assert.deepEqual(
      holders.map(([address]) => address),
      ['google_pubsub_subscription.review_events_dead_letter'],
    );
    const [, holder] = holders[0]!;
    assert.equal(evaluateReference(tf, expressionOf(holder.message_retention_duration)!), '2678400s');
    assert.equal(holder.retain_acked_messages, true);
  });

  it('each subscriber group gets one subscription filtered on its tenant by Pub/Sub, and may only consume it', () => {
    const subscriber = resource(tf, 'google_pubsub_subscription.review_events_subscriber');
    assert.equal(subscriber.for_each, '${var.review_event_subscribers}');
    assert.equal(subscriber.topic, '${google_pubsub_topic.topic["review_events"].id}');
    assert.equal(subscriber.filter, 'attributes.tenant = "${each.value.tenant}"');
    assert.equal(subscriber.enable_message_ordering, true);
    assert.equal(
      block(subscriber, 'dead_letter_policy').dead_letter_topic,
      '${google_pubsub_topic.topic["review_events_dead_letter"].id}',
    );

    // The group's member appears in exactly one grant: subscriber on its own subscription.
    const groupMember = 'group:${each.value.group}';
    const grants = [...tf.resources].filter(([, body]) => body.member === groupMember);
    assert.deepEqual(
      grants.map(([address, body]) => [address, body.role, body.subscription, body.for_each]),
      [
        [
          'google_pubsub_subscription_iam_member.review_events_subscriber',
          'roles/pubsub.subscriber',
          '${google_pubsub_subscription.review_events_subscriber[each.key].name}',
          '${var.review_event_subscribers}',
        ],
      ],
    );
    // Nothing else reads the subscribers' groups (no topic, project or publisher grant built from them).
    const mentions = [...tf.resources]
      .filter(([, body]) => JSON.stringify(body).includes('each.value.group'))
      .map(([address]) => address);
    assert.deepEqual(mentions, ['google_pubsub_subscription_iam_member.review_events_subscriber']);
  });

  it('lets the Pub/Sub service agent dead-letter from every review-events subscription', () => {
    const publish = resource(tf, 'google_pubsub_topic_iam_member.review_events_dead_letter_publisher');
    assert.deepEqual(
      [publish.topic, publish.role, publish.member],
      [
        '${google_pubsub_topic.topic["review_events_dead_letter"].name}',
        'roles/pubsub.publisher',
        '${local.pubsub_service_agent}',
      ],
    );
    const source = resource(tf, 'google_pubsub_subscription_iam_member.review_events_dead_letter_source');
    assert.equal(source.role, 'roles/pubsub.subscriber');
    assert.equal(source.member, '${local.pubsub_service_agent}');
    assert.match(String(source.for_each), /google_pubsub_subscription\.review_events_operators\.name/);
    assert.match(String(source.for_each), /google_pubsub_subscription\.review_events_subscriber/);
  });
});

function stringList(value: unknown): string[] {
  const expr = expressionOf(value);
  if (expr === null) return value as string[];
  return [...expr.matchAll(/"(\w+)"/g)].map((m) => m[1]!);
}
