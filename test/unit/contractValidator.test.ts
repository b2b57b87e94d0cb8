import assert from 'node:assert/strict';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { examples } from '../../functions/src/http/contract/examples.js';
import { checkAnswersAgainstContract, takeContractViolations } from '../support/contractHook.js';
import { type Answer, ContractValidator } from '../support/contractValidator.js';

/** The harness's contract check must catch what it is there to catch, and pass what the contract allows. */

const validator = new ContractValidator();
const problemJson = { 'content-type': 'application/problem+json', 'cache-control': 'no-store' };
const problem = (slug: string, status: number, title = 'T') =>
  Buffer.from(
    JSON.stringify({ type: `tag:clinical-ai-gateway,2026:problems/${slug}`, title, status, detail: 'd' }),
  );

const completed: Answer = {
  api: 'inference',
  method: 'POST',
  url: '/v1/inferences',
  status: 200,
  headers: { 'content-type': 'application/json', 'content-length': '1', date: 'x' },
  body: Buffer.from(JSON.stringify(examples.inferenceCompleted.completed.value)),
};
const pending: Answer = {
  ...completed,
  status: 202,
  headers: { ...completed.headers, location: '/v1/inferences/inf_abc', 'retry-after': '30' },
  body: Buffer.from(JSON.stringify(examples.inferencePending.pendingReview.value)),
};

const conforming: [string, Answer][] = [
  ['a completed inference', completed],
  ['a replayed one', { ...completed, headers: { ...completed.headers, 'idempotent-replayed': 'true' } }],
  ['a pending one with Location and Retry-After', pending],
  [
    'an unknown path: 404',
    { ...completed, url: '/nope', status: 404, headers: problemJson, body: problem('not-found', 404) },
  ],
  [
    'an undocumented method: 405 with Allow',
    {
      ...completed,
      method: 'DELETE',
      status: 405,
      headers: { ...problemJson, allow: 'POST' },
      body: problem('method-not-allowed', 405),
    },
  ],
  [
    'an undecodable path: 404',
    {
      ...completed,
      method: 'GET',
      url: '/v1/inferences/%E0%A4%A',
      status: 404,
      headers: problemJson,
      body: problem('not-found', 404),
    },
  ],
  [
    'a review list with a query',
    {
      ...completed,
      api: 'reviewer',
      method: 'GET',
      url: '/v1/reviews?state=pending&limit=5',
      body: Buffer.from(JSON.stringify(examples.reviewList.pending.value)),
    },
  ],
];

const departing: [string, Answer, RegExp][] = [
  ['an undocumented status', { ...completed, status: 201 }, /status 201 is not documented/],
  [
    'an undocumented field',
    {
      ...completed,
      body: Buffer.from(JSON.stringify({ ...examples.inferenceCompleted.completed.value, cost: 1 })),
    },
    /additional properties \(cost\)/,
  ],
  [
    'a missing field',
    {
      ...completed,
      body: Buffer.from(JSON.stringify({ ...examples.inferenceCompleted.completed.value, model: undefined })),
    },
    /required property 'model'/,
  ],
  [
    'a value outside its enum',
    {
      ...completed,
      body: Buffer.from(JSON.stringify({ ...examples.inferenceCompleted.completed.value, status: 'done' })),
    },
    /\/status must be equal to one of the allowed values/,
  ],
  [
    'an undocumented header',
    { ...completed, headers: { ...completed.headers, 'x-debug': '1' } },
    /header x-debug is not documented/,
  ],
  [
    'a required header missing',
    { ...pending, headers: { ...pending.headers, location: undefined } },
    /required header Location is missing/,
  ],
  [
    'a header value off its schema',
    { ...pending, headers: { ...pending.headers, 'retry-after': 'soon' } },
    /header Retry-After/,
  ],
  [
    'an undocumented content type',
    { ...completed, headers: { ...completed.headers, 'content-type': 'text/html' } },
    /content type "text\/html"/,
  ],
  [
    'a problem of a type its status does not carry',
    {
      ...completed,
      status: 409,
      headers: { ...problemJson, 'retry-after': '1' },
      body: problem('conflict', 409),
    },
    /type must be equal to one of the allowed values/,
  ],
  [
    "a problem whose status is not the answer's",
    {
      ...completed,
      url: '/v1/inferences/inf_x',
      method: 'GET',
      status: 404,
      headers: problemJson,
      body: problem('not-found', 410),
    },
    /status/,
  ],
  ["an answer on the other function's path", { ...completed, api: 'reviewer' }, /no such operation/],
  [
    'a 401 without WWW-Authenticate',
    { ...completed, status: 401, headers: problemJson, body: problem('unauthenticated', 401) },
    /WWW-Authenticate is missing/,
  ],
];

describe('contract check of the test harness', () => {
  for (const [name, answer] of conforming) {
    it(`passes ${name}`, () => assert.deepEqual(validator.check(answer), []));
  }
  for (const [name, answer, expected] of departing) {
    it(`catches ${name}`, () => {
      const found = validator.check(answer);
      assert.ok(
        found.some((v) => expected.test(v)),
        found.join('\n') || 'nothing found',
      );
    });
  }

  it('the hook records what a served answer gets wrong, whatever the client', async () => {
    http('offContract', (_req, res) => {
      res.status(200).setHeader('Content-Type', 'application/json');
      res.write('{"status":');
      res.end('"fine"}');
    });
    const api = supertest(checkAnswersAgainstContract(getTestServer('offContract'), 'inference'));
    assert.equal((await api.get('/healthz')).status, 200);
    const found = takeContractViolations();
    assert.equal(found.length, 1);
    assert.match(found[0]!, /GET \/healthz → 200: body \/status must be equal to one of the allowed values/);
  });
});
