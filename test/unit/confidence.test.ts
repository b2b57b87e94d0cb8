import assert from 'node:assert/strict';
import { NO_LOGPROBS_CONFIDENCE, scoreResult } from '../../functions/src/core/confidence.js';
import type { ProviderResult } from '../../functions/src/core/providers/provider.js';

const result = (text: string, tokenLogprobs: number[] | null): ProviderResult => ({
  text,
  tokenLogprobs,
  model: 'm',
  usage: null,
});
const meds = JSON.stringify({
  medications: [{ name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' }],
});

describe('confidence scorer', () => {
  it('scores c when every token has logprob ln(c)', () => {
    for (const c of [0.05, 0.41, 0.8, 0.93, 1]) {
      const score = scoreResult('medication-extraction', result(meds, Array(17).fill(Math.log(c))));
      assert.equal(score.basis, 'logprobs');
      assert.equal(score.confidence, c);
    }
  });

  it('is the geometric mean of token probabilities', () => {
    const score = scoreResult('medication-extraction', result(meds, [Math.log(0.9), Math.log(0.4)]));
    assert.equal(score.confidence, Math.round(Math.sqrt(0.9 * 0.4) * 1e6) / 1e6);
  });

  it('gives a conservative fixed score without logprobs', () => {
    const score = scoreResult('medication-extraction', result(meds, null));
    assert.equal(score.basis, 'no_logprobs');
    assert.equal(score.confidence, NO_LOGPROBS_CONFIDENCE);
    assert.ok(NO_LOGPROBS_CONFIDENCE < 0.8);
  });

  it('scores 0 for an output that is not JSON or fails the task schema', () => {
    assert.equal(scoreResult('medication-extraction', result('not json', [0])).confidence, 0);
    const wrongShape = scoreResult('medication-extraction', result('{"meds":[]}', [0, 0]));
    assert.equal(wrongShape.basis, 'invalid_output');
    assert.equal(wrongShape.confidence, 0);
    const badCode = scoreResult(
      'icd10-suggestion',
      result('{"codes":[{"code":"hypertension","description":"x","evidence":"y"}]}', [0]),
    );
    assert.equal(badCode.basis, 'invalid_output');
  });
});
