import assert from 'node:assert/strict';
import { evidenceOf, highlight } from '../../functions/console/src/evidence.js';

const marked = (note: string, task: string, output: unknown) =>
  highlight(note, evidenceOf(task, output))
    .segments.filter((s) => s.label !== null)
    .map((s) => s.text);

describe('console evidence highlighting', () => {
  const note = 'Takes Metformin 500 mg PO BID and lisinopril 10 mg daily; metformin was started in 2019.';

  it('marks every medication name (any case) and dose, and nothing else', () => {
    const output = {
      medications: [
        { name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' },
        { name: 'lisinopril', dose: '10 mg', route: null, frequency: 'once daily' },
      ],
    };
    assert.deepEqual(marked(note, 'medication-extraction', output), [
      'Metformin',
      '500 mg',
      'lisinopril',
      '10 mg',
      'metformin',
    ]);
  });

  it('keeps the text whole: the segments join back to the note', () => {
    const { segments } = highlight(note, [{ label: 'x', phrase: 'mg' }]);
    assert.equal(segments.map((s) => s.text).join(''), note);
  });

  it('matches whole words only, across any whitespace', () => {
    const text = 'Insulin glargine\n10 units; insulinoma ruled out.';
    assert.deepEqual(
      highlight(text, [
        { label: 'a', phrase: 'insulin' },
        { label: 'b', phrase: 'glargine 10 units' },
      ]).segments.flatMap((s) => (s.label ? [s.text] : [])),
      ['Insulin', 'glargine\n10 units'],
    );
  });

  it('lets the longer phrase win where two overlap', () => {
    assert.deepEqual(
      highlight('type 2 diabetes mellitus', [
        { label: 'short', phrase: 'diabetes' },
        { label: 'long', phrase: 'type 2 diabetes mellitus' },
      ]).segments,
      [{ text: 'type 2 diabetes mellitus', label: 'long' }],
    );
  });

  it('reports the evidence the note does not contain', () => {
    const output = { medications: [{ name: 'warfarin', dose: '5 mg', route: null, frequency: null }] };
    const { missing } = highlight(note, evidenceOf('medication-extraction', output));
    assert.deepEqual(
      missing.map((m) => m.phrase),
      ['warfarin', '5 mg'],
    );
  });

  it('uses ICD-10 evidence phrases and summary sentences', () => {
    const text = 'Known hypertension. Blood pressure is well controlled. Continue lisinopril.';
    assert.deepEqual(
      marked(text, 'icd10-suggestion', {
        codes: [{ code: 'I10', description: 'Essential (primary) hypertension', evidence: 'hypertension' }],
      }),
      ['hypertension'],
    );
    assert.deepEqual(
      marked(text, 'clinical-summary', {
        summary: 'Blood pressure is well controlled.',
        keyFindings: ['Continue lisinopril'],
      }),
      ['Blood pressure is well controlled', 'Continue lisinopril'],
    );
  });

  it('reads hostile or malformed proposals as no evidence, and never as a pattern', () => {
    assert.deepEqual(evidenceOf('medication-extraction', null), []);
    assert.deepEqual(evidenceOf('medication-extraction', { medications: 'x' }), []);
    assert.deepEqual(evidenceOf('unknown-task', { medications: [] }), []);
    assert.deepEqual(
      marked('a (b) [c] .* d', 'medication-extraction', { medications: [{ name: '(b) [c] .*' }] }),
      ['(b) [c] .*'],
    );
  });
});
