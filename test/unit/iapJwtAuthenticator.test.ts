import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { IapJwtAuthenticator } from '../../functions/src/adapters/auth/iapJwtAuthenticator.js';
import { isGatewayError } from '../../functions/src/core/errors.js';

const forbidden = (e: unknown) => isGatewayError(e, 'forbidden');
const unauthenticated = (e: unknown) => isGatewayError(e, 'unauthenticated');
const unavailable = (e: unknown) => isGatewayError(e, 'dependency_unavailable');

/** Signs an ES256 JWT with a local P-256 key, the way Identity-Aware Proxy signs its header. */
function signEs256(privateKey: string, kid: string, claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64(claims)}`;
  // JOSE signatures are r || s (IEEE P1363), not DER.
  const signature = createSign('SHA256')
    .update(unsigned)
    .sign({ key: privateKey, dsaEncoding: 'ieee-p1363' })
    .toString('base64url');
  return `${unsigned}.${signature}`;
}

const ecKeys = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
};

describe('IapJwtAuthenticator (locally signed ES256 assertions)', () => {
  const k1 = ecKeys();
  const k2 = ecKeys();
  const audience = '/projects/123456789012/global/backendServices/987654321';
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'https://cloud.google.com/iap',
    aud: audience,
    sub: 'accounts.google.com:1234567890',
    email: 'Rita@Hospital.example',
    iat: now - 10,
    exp: now + 600,
  };
  const principals = { 'rita@hospital.example': { tenant: 'acme', roles: ['reviewer'] as const } };
  const auth = new IapJwtAuthenticator({ audience, principals, getPublicKeys: async () => ({ k1: k1.pub }) });

  it('verifies signature, expiry, issuer and audience, and maps the email to a tenant and roles', async () => {
    assert.deepEqual(await auth.authenticate(signEs256(k1.priv, 'k1', claims)), {
      subject: 'rita@hospital.example',
      tenant: 'acme',
      roles: ['reviewer'],
    });
  });

  it('accepts the Cloud Run form of the audience when configured with it', async () => {
    const runAudience = '/projects/123456789012/locations/europe-west1/services/reviewer-api';
    const run = new IapJwtAuthenticator({
      audience: runAudience,
      principals,
      getPublicKeys: async () => ({ k1: k1.pub }),
    });
    const token = signEs256(k1.priv, 'k1', { ...claims, aud: runAudience });
    assert.equal((await run.authenticate(token)).tenant, 'acme');
    await assert.rejects(run.authenticate(signEs256(k1.priv, 'k1', claims)), unauthenticated);
  });

  const refused: [string, () => string][] = [
    ['a token signed by another key', () => signEs256(k2.priv, 'k1', claims)],
    ['an unknown key id', () => signEs256(k1.priv, 'k9', claims)],
    ['an expired token', () => signEs256(k1.priv, 'k1', { ...claims, iat: now - 7200, exp: now - 3600 })],
    [
      'another audience',
      () => signEs256(k1.priv, 'k1', { ...claims, aud: '/projects/1/global/backendServices/2' }),
    ],
    [
      'a Google ID token issuer',
      () => signEs256(k1.priv, 'k1', { ...claims, iss: 'https://accounts.google.com' }),
    ],
    ['no email', () => signEs256(k1.priv, 'k1', { ...claims, email: undefined })],
    ['garbage', () => 'not.a.jwt'],
    ['an empty header', () => ''],
    ['an oversized header', () => `${'a'.repeat(9_000)}.b.c`],
  ];
  for (const [what, token] of refused) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(auth.authenticate(token()), unauthenticated);
    });
  }

  it('refuses a missing header', async () => {
    await assert.rejects(auth.authenticate(undefined), unauthenticated);
  });

  it('answers forbidden for a signed-in identity the directory does not know', async () => {
    const token = signEs256(k1.priv, 'k1', { ...claims, email: 'stranger@hospital.example' });
    await assert.rejects(auth.authenticate(token), forbidden);
  });

  it('treats unreachable IAP keys as a dependency failure, not a bad token', async () => {
    const down = new IapJwtAuthenticator({
      audience,
      principals,
      getPublicKeys: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    });
    await assert.rejects(down.authenticate(signEs256(k1.priv, 'k1', claims)), unavailable);
  });

  it('keeps the keys for an hour, and fetches them again for a new key id at most once a minute', async () => {
    let fetches = 0;
    let keys: Record<string, string> = { k1: k1.pub };
    let clock = 0;
    const rotating = new IapJwtAuthenticator({
      audience,
      principals,
      clock: () => clock,
      getPublicKeys: async () => {
        fetches++;
        return keys;
      },
    });
    await rotating.authenticate(signEs256(k1.priv, 'k1', claims));
    await rotating.authenticate(signEs256(k1.priv, 'k1', claims));
    assert.equal(fetches, 1);

    // IAP rotates to k2: within the minute the old keys stand, after it they are fetched again.
    keys = { k1: k1.pub, k2: k2.pub };
    clock = 30_000;
    await assert.rejects(rotating.authenticate(signEs256(k2.priv, 'k2', claims)), unauthenticated);
    assert.equal(fetches, 1);
    clock = 61_000;
    assert.equal((await rotating.authenticate(signEs256(k2.priv, 'k2', claims))).tenant, 'acme');
    assert.equal(fetches, 2);
  });

  it('refuses to start with an audience that is not an IAP audience', () => {
    assert.throws(
      () => new IapJwtAuthenticator({ audience: 'https://reviewer.example.org', principals }),
      /IAP audience/,
    );
  });
});
