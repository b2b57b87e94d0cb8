import assert from 'node:assert/strict';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { runHttpRequestsWithoutDomains } from '../../functions/src/http/frameworkDomain.js';

/**
 * The Functions Framework wraps each request in a `node:domain`; the first Domain constructed turns on
 * destroy tracking for every promise of the process. An HTTP function's instance must run its requests
 * through the framework without any domain, and still answer a rejected handler with a 500.
 */
describe("HTTP functions run without the framework's domains", () => {
  const seen = { ran: false, domain: undefined as unknown };
  http('domainProbe', async (_req, res) => {
    seen.ran = true;
    seen.domain = (process as { domain?: unknown }).domain;
    res.status(204).end();
  });
  http('domainProbeRejects', async () => {
    throw new Error('boom');
  });

  it('a request runs with no domain at all', async () => {
    const restore = runHttpRequestsWithoutDomains();
    try {
      seen.ran = false;
      const res = await supertest(getTestServer('domainProbe')).get('/');
      assert.equal(res.status, 204);
      assert.ok(seen.ran, 'the function ran');
      assert.equal(seen.domain ?? null, null, 'no domain is active');
    } finally {
      restore();
    }
  });

  it('a rejected handler is still answered with a 500 by the framework', async () => {
    const restore = runHttpRequestsWithoutDomains();
    try {
      const res = await supertest(getTestServer('domainProbeRejects')).get('/');
      assert.equal(res.status, 500);
    } finally {
      restore();
    }
  });

  it('restored, the framework runs requests in its domain again (what the stand-in replaces)', async () => {
    seen.ran = false;
    await supertest(getTestServer('domainProbe')).get('/');
    assert.ok(seen.ran);
    assert.ok(seen.domain, 'the request ran in a domain');
  });
});
