import assert from 'node:assert/strict';
import { createInferenceRequestSchema } from '../../functions/src/http/contract/requests.js';

/** The note's length is counted in Unicode code points, as the contract says, not in UTF-16 units. */
describe('the inference request schema: the length of a note', () => {
  const schema = createInferenceRequestSchema({ allowHttpLoopbackCallbacks: false });
  const ok = (text: string) => schema.safeParse({ task: 'clinical-summary', input: { text } }).success;

  it('takes 100,000 characters outside the Basic Multilingual Plane (200,000 UTF-16 units)', () => {
    assert.equal(ok('😀'.repeat(100_000)), true);
  });

  it('refuses 100,001 characters, whichever plane they are in', () => {
    assert.equal(ok('😀'.repeat(100_001)), false);
    assert.equal(ok('a'.repeat(100_001)), false);
    assert.equal(ok(`${'a'.repeat(99_999)}😀😀`), false);
  });

  it('takes exactly 100,000 mixed characters, and refuses an empty note', () => {
    assert.equal(ok(`${'a'.repeat(99_998)}😀😀`), true);
    assert.equal(ok(''), false);
  });
});
