/** The request the load benchmarks send: a medication extraction over a 174-character note, as a clinician. */
export const BENCH_NOTE =
  'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs. ' +
  'History of hypertension and type 2 diabetes mellitus. BP 142/88, HbA1c 7.9%.';
export const BENCH_BODY = JSON.stringify({ task: 'medication-extraction', input: { text: BENCH_NOTE } });
export const BENCH_TOKEN = 'dev:bench:clinician:bench';
export const BENCH_HEADERS = { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' };
