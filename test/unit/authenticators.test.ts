import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { DevAuthenticator } from '../../functions/src/adapters/auth/devAuthenticator.js';
import { GoogleIdTokenAuthenticator } from '../../functions/src/adapters/auth/googleIdTokenAuthenticator.js';
import { isGatewayError } from '../../functions/src/core/errors.js';

const forbidden = (e: unknown) => isGatewayError(e, 'forbidden');
const unauthenticated = (e: unknown) => isGatewayError(e, 'unauthenticated');

/** Signs an RS256 JWT with a local key, the way Google signs ID tokens. */
function signJwt(privateKey: string, kid: string, claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(claims)}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url');
  return `${unsigned}.${signature}`;
}

describe('DevAuthenticator', () => {
  const auth = new DevAuthenticator();

  it('accepts dev:<tenant>:<role>:<subject>', async () => {
    assert.deepEqual(await auth.authenticate('Bearer dev:acme:clinician:alice'), {
      tenant: 'acme',
      subject: 'alice',
      roles: ['clinician'],
    });
  });

  for (const header of [
    undefined,
    '',
    'Basic abc',
    'Bearer',
    'Bearer dev:acme:clinician',
    'Bearer dev:acme:nurse:alice',
    'Bearer dev:acme:clinician:alice:extra',
    'Bearer prod:acme:clinician:alice',
    'Bearer dev::clinician:alice',
    'Bearer dev:ac me:clinician:alice',
  ]) {
    it(`refuses ${JSON.stringify(header)}`, async () => {
      await assert.rejects(auth.authenticate(header), unauthenticated);
    });
  }
});

describe('GoogleIdTokenAuthenticator (locally signed tokens)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const audience = 'https://inference.example.org';
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'https://accounts.google.com',
    aud: audience,
    sub: '1234567890',
    email: 'Alice@Hospital.example',
    email_verified: true,
    iat: now - 10,
    exp: now + 600,
  };
  const auth = new GoogleIdTokenAuthenticator({
    audience,
    principals: { 'alice@hospital.example': { tenant: 'st-marys', roles: ['clinician', 'reviewer'] } },
    getCerts: async () => ({ k1: pub }),
  });
  const bearer = (token: string) => `Bearer ${token}`;

  it('verifies signature, expiry and audience, and maps the email to a tenant and roles', async () => {
    const principal = await auth.authenticate(bearer(signJwt(priv, 'k1', claims)));
    assert.deepEqual(principal, {
      subject: 'alice@hospital.example',
      tenant: 'st-marys',
      roles: ['clinician', 'reviewer'],
    });
  });

  it('refuses a token signed by another key', async () => {
    await assert.rejects(auth.authenticate(bearer(signJwt(other, 'k1', claims))), unauthenticated);
  });

  it('refuses an expired token', async () => {
    const expired = { ...claims, iat: now - 7200, exp: now - 3600 };
    await assert.rejects(auth.authenticate(bearer(signJwt(priv, 'k1', expired))), unauthenticated);
  });

  it('refuses another audience', async () => {
    const token = signJwt(priv, 'k1', { ...claims, aud: 'https://elsewhere.example' });
    await assert.rejects(auth.authenticate(bearer(token)), unauthenticated);
  });

  it('refuses another issuer', async () => {
    const token = signJwt(priv, 'k1', { ...claims, iss: 'https://evil.example' });
    await assert.rejects(auth.authenticate(bearer(token)), unauthenticated);
  });

  it('refuses an unverified email', async () => {
    const token = signJwt(priv, 'k1', { ...claims, email_verified: false });
    await assert.rejects(auth.authenticate(bearer(token)), unauthenticated);
  });

  it('answers forbidden for a verified identity the directory does not know', async () => {
    const token = signJwt(priv, 'k1', { ...claims, email: 'stranger@hospital.example' });
    await assert.rejects(auth.authenticate(bearer(token)), forbidden);
  });

  it('matches a directory entry written in any case (emails are case-insensitive)', async () => {
    const mixedCase = new GoogleIdTokenAuthenticator({
      audience,
      principals: { 'ALICE@Hospital.Example': { tenant: 'st-marys', roles: ['clinician'] } },
      getCerts: async () => ({ k1: pub }),
    });
    for (const email of ['alice@hospital.example', 'Alice@HOSPITAL.example']) {
      const principal = await mixedCase.authenticate(bearer(signJwt(priv, 'k1', { ...claims, email })));
      assert.deepEqual(principal, {
        subject: 'alice@hospital.example',
        tenant: 'st-marys',
        roles: ['clinician'],
      });
    }
  });

  it('refuses garbage', async () => {
    await assert.rejects(auth.authenticate('Bearer not.a.jwt'), unauthenticated);
  });
});
