import assert from 'node:assert/strict';
import fc from 'fast-check';

/**
 * Shared pieces of the property-based tests of hostile input: the seed (printed, and taken from FUZZ_SEED to
 * replay a failure), generators of hostile JSON, strings and header values, and the invariant every error
 * answer must keep.
 */

export function fuzzSeed(surface: string): number {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  console.log(`      ${surface}: fast-check seed ${seed} (replay with FUZZ_SEED=${seed})`);
  return seed;
}

/** Strings at the edges of Unicode and size: lone surrogates, NUL, BOM, bidi overrides, astral, huge. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 500 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '\uD800',
      '\uDFFF',
      '\u0000',
      '\uFEFF',
      '\u202E',
      'a\u0301',
      '𝕏'.repeat(2_000),
      '',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 50_000, max: 150_000 }).map((n) => 'é'.repeat(n)) },
);

/** Any JSON value, with hostile strings, numbers at the edges and deep nesting. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.constantFrom(1e308, -0, Number.MAX_SAFE_INTEGER + 2, 0.1) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 10, max: 3_000 }).map((depth) => {
      let v: unknown = 'leaf';
      for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
      return v;
    }),
  },
);

/** A raw body: JSON text of a hostile value, or text that is not JSON at all (cut, nested, binary). */
export const rawBody = (structured: fc.Arbitrary<unknown>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: structured.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: structured.chain((v) => {
        const text = JSON.stringify(v) ?? 'null';
        return fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => text.slice(0, cut));
      }),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
    },
  );

/** A header value that HTTP can carry (visible ASCII and spaces), of any length up to 400. */
export const headerValue: fc.Arbitrary<string> = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 400,
});

export const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/merge-patch+json',
  '',
);

/**
 * The invariant of every answer to hostile input: never a 5xx; an error is problem+json naming its own
 * status, and quotes none of the clinical text it was sent (`secrets`: strings of the request that are, or
 * could be, clinical).
 */
export function assertSafeAnswer(
  res: { status: number; headers: Record<string, string>; text: string },
  secrets: readonly string[],
): void {
  assert.ok(res.status < 500, `a ${res.status}: ${res.text.slice(0, 300)}`);
  if (res.status < 400) return;
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, res.text.slice(0, 200));
  const body = JSON.parse(res.text) as { status?: unknown };
  assert.equal(body.status, res.status);
  for (const secret of secrets) {
    if (secret.length >= 12)
      assert.ok(!res.text.includes(secret), `the error quotes the request: ${res.text.slice(0, 200)}`);
  }
}

/** Every string in a JSON value, at any depth (the clinical text could be any of them). */
export function stringsIn(value: unknown, out: string[] = [], depth = 0): string[] {
  if (depth > 50) return out;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out, depth + 1);
  else if (value && typeof value === 'object')
    for (const v of Object.values(value)) stringsIn(v, out, depth + 1);
  return out;
}
