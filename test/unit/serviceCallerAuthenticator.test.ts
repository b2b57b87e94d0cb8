import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import {
  DevServiceCallerVerifier,
  devOidcToken,
  GoogleServiceCallerVerifier,
} from '../../functions/src/adapters/auth/serviceCallerAuthenticator.js';
import { isGatewayError } from '../../functions/src/core/errors.js';

const forbidden = (e: unknown) => isGatewayError(e, 'forbidden');
const unauthenticated = (e: unknown) => isGatewayError(e, 'unauthenticated');

function signJwt(privateKey: string, kid: string, claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(claims)}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url');
  return `${unsigned}.${signature}`;
}

const tasksAccount = 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com';

describe('GoogleServiceCallerVerifier (locally signed OIDC tokens)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const audience = 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs';
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'https://accounts.google.com',
    aud: audience,
    sub: '1234',
    email: tasksAccount,
    email_verified: true,
    iat: now - 10,
    exp: now + 600,
  };
  const verifier = new GoogleServiceCallerVerifier({
    audiences: [audience, `${audience}/jobs/sweep-review-outbox`],
    allowedEmails: [tasksAccount],
    getCerts: async () => ({ k1: pub }),
  });
  const bearer = (c: Record<string, unknown>) => `Bearer ${signJwt(priv, 'k1', c)}`;

  it('accepts the tasks service account’s token for our audience, or for the endpoint’s own URL', async () => {
    assert.deepEqual(await verifier.verify(bearer(claims)), { email: tasksAccount });
    const forEndpoint = { ...claims, aud: `${audience}/jobs/sweep-review-outbox` };
    assert.deepEqual(await verifier.verify(bearer(forEndpoint)), { email: tasksAccount });
  });

  it('refuses a token for another audience, an expired one, and none at all (401)', async () => {
    await assert.rejects(verifier.verify(bearer({ ...claims, aud: 'https://elsewhere' })), unauthenticated);
    await assert.rejects(verifier.verify(bearer({ ...claims, exp: now - 3_600 })), unauthenticated);
    await assert.rejects(verifier.verify(undefined), unauthenticated);
  });

  it('refuses a valid token of any other identity (403)', async () => {
    await assert.rejects(
      verifier.verify(bearer({ ...claims, email: 'someone@clinical-prod.iam.gserviceaccount.com' })),
      forbidden,
    );
  });
});

describe('DevServiceCallerVerifier', () => {
  const verifier = new DevServiceCallerVerifier(['review-tasks@local.test']);

  it('accepts the local scheduler’s development token', async () => {
    assert.deepEqual(await verifier.verify(`Bearer ${devOidcToken('review-tasks@local.test')}`), {
      email: 'review-tasks@local.test',
    });
  });

  it('refuses other identities and other token shapes', async () => {
    await assert.rejects(verifier.verify(`Bearer ${devOidcToken('mallory@local.test')}`), forbidden);
    await assert.rejects(verifier.verify('Bearer dev:acme:admin:alice'), unauthenticated);
    await assert.rejects(verifier.verify('Bearer dev-oidc:'), unauthenticated);
  });
});
