/**
 * The reviewer console in a real browser (headless Chromium) against the real local stack: a reviewer's
 * day from a clinician's low-confidence inference to the clinician reading the reviewer's edit, a second
 * reviewer finding the item taken, a rejection, and the admin view showing a breaker open after the primary
 * model server fails. Every page is checked with axe-core at WCAG AA, and screenshots of the queue, an item
 * and the admin view are written to .data/screenshots/ (docs/images/ keeps copies for docs/console.md).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';
import { assertAccessible } from './axe.js';
import { type LaunchedChromium, launchChromium } from './chromium.js';
import { type ConsoleStack, startConsoleStack } from './consoleStack.js';

const SCREENSHOTS = path.join(PROJECT_ROOT, '.data', 'screenshots');
const NOTE =
  'Patient with type 2 diabetes mellitus and hypertension. Takes Metformin 500 mg PO BID and lisinopril ' +
  '10 mg daily. Blood pressure is well controlled. Plan: continue current regimen.';
/** The contract: a pending inference's review item is listed within 5 s of its 202. */
const LISTED_WITHIN_MS = 5_000;

describe('reviewer console in Chromium, against the local stack', function () {
  this.timeout(240_000);
  let stack: ConsoleStack;
  let chromium: LaunchedChromium;
  let browser: Browser;
  /** Problems the pages reported: uncaught errors and Content-Security-Policy violations. */
  const pageProblems: string[] = [];

  before(async function () {
    this.timeout(300_000);
    stack = await startConsoleStack({
      // A breaker that opens after a handful of failures and stays open for the rest of the run.
      BREAKER_MIN_FAILURES: '4',
      BREAKER_MIN_WINDOW_SECONDS: '0',
      BREAKER_FLUSH_MS: '200',
      BREAKER_REFRESH_MS: '200',
      BREAKER_OPEN_SECONDS: '600',
      // Every confident output is also sampled for quality review.
      REVIEW_SAMPLE_RATE: '1',
    });
    chromium = await launchChromium();
    browser = chromium.browser;
    mkdirSync(SCREENSHOTS, { recursive: true });
    // Every output scores 0.5, below the 0.8 threshold: every inference goes to review.
    await modelBehaviour({ confidence: 0.5 });
    await modelBehaviour({ confidence: 0.5 }, stack.modelB);
  });

  after(async function () {
    this.timeout(60_000);
    await chromium?.close();
    await stack?.stack.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(stack.lines.slice(-40).join('\n'));
  });

  async function modelBehaviour(behaviour: Record<string, unknown>, model = stack.modelA): Promise<void> {
    const res = await fetch(`${model}/admin/behaviour`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(behaviour),
    });
    assert.equal(res.status, 204);
  }

  const clinician = { authorization: 'Bearer dev:acme:clinician:alice' };

  async function postInference(task = 'medication-extraction', text = NOTE) {
    const res = await fetch(`${stack.inferenceUrl}/v1/inferences`, {
      method: 'POST',
      headers: { ...clinician, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ task, input: { text } }),
    });
    const body = (await res.json()) as { id: string; status: string };
    return { status: res.status, body, answeredAt: Date.now() };
  }

  async function getInference(id: string) {
    const res = await fetch(`${stack.inferenceUrl}/v1/inferences/${id}`, { headers: clinician });
    assert.equal(res.status, 200);
    return (await res.json()) as {
      status: string;
      output: { medications: { name: string; dose: string | null }[] } | null;
      review: { state: string; reviewer: string | null; reasonCode: string | null } | null;
    };
  }

  const reviewIdOf = (inferenceId: string) => `rev_${inferenceId.slice('inf_'.length)}`;

  /** Records the page's uncaught errors and every Content-Security-Policy violation into `pageProblems`. */
  async function watch(page: Page): Promise<Page> {
    page.on('pageerror', (e) => pageProblems.push(`page error: ${e}`));
    await page.exposeFunction('reportCspViolation', (what: string) => pageProblems.push(`CSP: ${what}`));
    await page.evaluateOnNewDocument(() => {
      const w = globalThis as unknown as {
        addEventListener(
          type: string,
          listener: (e: { violatedDirective: string; blockedURI: string }) => void,
        ): void;
        reportCspViolation(what: string): void;
      };
      w.addEventListener('securitypolicyviolation', (e) =>
        w.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI}`),
      );
    });
    return page;
  }

  async function signIn(subject: string, role: 'reviewer' | 'admin' = 'reviewer', page?: Page) {
    const p = await watch(page ?? (await browser.newPage()));
    await p.goto(`${stack.reviewerUrl}/console/`);
    await p.waitForSelector('#tenant');
    await p.type('#tenant', 'acme');
    await p.type('#subject', subject);
    await p.select('#role', role);
    await p.click('button[type=submit]');
    await p.waitForSelector('header.top .who');
    return p;
  }

  const textOf = (page: Page, selector: string) =>
    page.$eval(selector, (el) => (el as unknown as { textContent: string }).textContent.trim());

  it('serves a sign-in page that passes axe at WCAG AA, under a strict CSP', async () => {
    const res = await fetch(`${stack.reviewerUrl}/console/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const page = await watch(await browser.newPage());
    await page.goto(`${stack.reviewerUrl}/console/`);
    await page.waitForSelector('#tenant');
    await assertAccessible(page, 'the sign-in page');
    await page.close();
    assert.deepEqual(pageProblems, []);
  });

  it("a reviewer's day: the item appears, is claimed, shows its evidence, is edited and approved", async () => {
    const page = await signIn('rita');
    await page.waitForSelector('p.status');

    const posted = await postInference();
    assert.equal(posted.status, 202);
    const inferenceId = posted.body.id;
    const reviewId = reviewIdOf(inferenceId);

    // New items appear without a reload, within the contract's 5 s of the 202.
    await page.waitForSelector(`tr[data-id="${reviewId}"]`, {
      timeout: Math.max(1, LISTED_WITHIN_MS - (Date.now() - posted.answeredAt)),
    });
    await assertAccessible(page, 'the queue');

    // Opening the item claims it.
    await page.click(`a.open[data-id="${reviewId}"]`);
    await page.waitForSelector('.note-text');
    assert.match(await textOf(page, '.item-head'), /yours until/);
    const claimed = await fetch(`${stack.reviewerUrl}/v1/reviews?state=claimed`, {
      headers: { authorization: 'Bearer dev:acme:reviewer:rita' },
    }).then((r) => r.json() as Promise<{ items: { id: string; claimedBy: string }[] }>);
    assert.equal(claimed.items.find((i) => i.id === reviewId)?.claimedBy, 'rita');

    // The evidence for each proposed fact is highlighted in the note.
    const marks = await page.$$eval('.note-text mark', (els) =>
      els.map((el) => (el as unknown as { textContent: string }).textContent),
    );
    assert.deepEqual(marks, ['Metformin', '500 mg', 'lisinopril', '10 mg']);
    await assertAccessible(page, 'an item');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'item.png'), fullPage: true });

    // A second reviewer sees who holds it.
    const other = await browser.createBrowserContext();
    const victor = await signIn('victor', 'reviewer', await other.newPage());
    await victor.goto(`${stack.reviewerUrl}/console/#/review/${reviewId}`);
    await victor.waitForSelector('.notice');
    assert.match(await textOf(victor, '.notice'), /rita is reviewing this item \(claimed until/);
    await assertAccessible(victor, 'an item held by another reviewer');
    await other.close();

    // Edit a dose in the form: the approval becomes an edit, which needs a reason.
    const dose = await page.$('input[name="medications.0.dose"]');
    await dose!.click({ count: 3 });
    await dose!.type('1000 mg');
    await page.locator('button::-p-text(Approve with edits)').click();
    await page.waitForSelector('#reason');
    assert.match(await textOf(page, '.decision .problem'), /Choose a reason/);
    await page.select('#reason', 'incorrect');

    // An edit that does not fit the task's schema (a medication without a name) is stopped in the page.
    const name = await page.$('input[name="medications.1.name"]');
    await name!.click({ count: 3 });
    await page.keyboard.press('Backspace');
    await page.locator('button::-p-text(Approve with edits)').click();
    await page.waitForSelector('input[name="medications.1.name"][aria-invalid="true"]');
    assert.match(await textOf(page, '.decision .problem'), /does not fit the task/);
    assert.equal((await getInference(inferenceId)).status, 'pending_review');
    await name!.type('lisinopril');
    await page.locator('button::-p-text(Approve with edits)').click();

    // After the decision the next item (none here) opens: the queue.
    await page.waitForFunction(
      () => (globalThis as unknown as { location: Location }).location.hash === '#/queue',
    );
    const seen = await getInference(inferenceId);
    assert.equal(seen.status, 'completed');
    assert.equal(seen.output?.medications[0]?.dose, '1000 mg');
    assert.deepEqual(
      { state: seen.review?.state, reviewer: seen.review?.reviewer, reasonCode: seen.review?.reasonCode },
      { state: 'edited', reviewer: 'rita', reasonCode: 'incorrect' },
    );
    await page.close();
    assert.deepEqual(pageProblems, []);
  });

  it('rejects with a reason and a note from the keyboard, then opens the next item', async () => {
    const first = await postInference('icd10-suggestion');
    const second = await postInference('clinical-summary');
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    const page = await signIn('rita');
    await page.waitForSelector(`tr[data-id="${reviewIdOf(second.body.id)}"]`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'queue.png') });

    await page.keyboard.press('o'); // opens the first (oldest) item
    await page.waitForFunction(
      (id) => (globalThis as unknown as { location: Location }).location.hash === `#/review/${id}`,
      {},
      reviewIdOf(first.body.id),
    );
    await page.waitForSelector('.note-text');
    await page.keyboard.press('r');
    await page.waitForSelector('#reason');
    await page.select('#reason', 'unsafe');
    await page.type('#note', 'Suggested code is not supported by the note.');
    await page.locator('button::-p-text(Confirm reject)').click();

    // The next pending item opens by itself.
    await page.waitForFunction(
      (id) => (globalThis as unknown as { location: Location }).location.hash === `#/review/${id}`,
      {},
      reviewIdOf(second.body.id),
    );
    const rejected = await getInference(first.body.id);
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.output, null);
    assert.equal(rejected.review?.reasonCode, 'unsafe');
    assert.equal(rejected.review?.reviewer, 'rita');

    // ... and is approved as proposed with one key, once its own view (not the one navigated away from)
    // shows the claimed item.
    await page.waitForSelector(`.item-head[data-review-id="${reviewIdOf(second.body.id)}"]`);
    await page.waitForSelector('.note-text');
    await page.keyboard.press('a');
    await page.waitForFunction(
      () => (globalThis as unknown as { location: Location }).location.hash === '#/queue',
    );
    assert.equal((await getInference(second.body.id)).review?.state, 'approved');
    await page.close();
    assert.deepEqual(pageProblems, []);
  });

  /** Decides an inference's review item through the API, once the intake has made it. */
  async function decideByApi(inferenceId: string, decision: Record<string, unknown>): Promise<void> {
    const headers = { authorization: 'Bearer dev:acme:reviewer:rita', 'content-type': 'application/json' };
    const url = `${stack.reviewerUrl}/v1/reviews/${reviewIdOf(inferenceId)}`;
    let claim = await fetch(`${url}/claim`, { method: 'POST', headers });
    for (let tries = 0; claim.status === 404 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      claim = await fetch(`${url}/claim`, { method: 'POST', headers });
    }
    assert.equal(claim.status, 200);
    const res = await fetch(`${url}/decision`, { method: 'POST', headers, body: JSON.stringify(decision) });
    assert.equal(res.status, 200);
  }

  it('the admin view shows an open breaker after the primary model server fails, and the agreement', async () => {
    // A spread of decisions over the confidence bands, for the agreement charts.
    const edit = { action: 'edit', reasonCode: 'incomplete', output: { medications: [] } };
    const decisions: [number, Record<string, unknown>][] = [
      [0.35, { action: 'reject', reasonCode: 'incorrect' }],
      [0.42, edit],
      [0.55, edit],
      [0.58, { action: 'approve' }],
      [0.66, edit],
      [0.71, { action: 'approve' }],
      [0.75, { action: 'approve' }],
      [0.79, { action: 'approve' }],
    ];
    for (const [confidence, decision] of decisions) {
      await modelBehaviour({ confidence });
      const posted = await postInference();
      assert.equal(posted.status, 202);
      await decideByApi(posted.body.id, decision);
    }

    await modelBehaviour({ confidence: 0.5, failRate: 1, failStatus: 500 });
    // Requests fail over to local-b (and go to review) while local-a's failures fill its breaker window.
    for (let i = 0; i < 6; i++) await postInference();

    const page = await signIn('ada', 'admin');
    await page.waitForSelector('[data-provider="local-a"]');
    await page.waitForFunction(
      () =>
        (
          globalThis as unknown as {
            document: { querySelector(s: string): { textContent: string } | null };
          }
        ).document.querySelector('[data-provider="local-a"] .state')?.textContent === 'open',
      { timeout: 30_000 },
    );
    assert.equal(await textOf(page, '[data-provider="local-b"] .state'), 'closed');
    // The decisions of the earlier tests, as charts per task.
    await page.waitForSelector('figure.chart[data-task="medication-extraction"] canvas');
    // The six fail-overs reach the queue through Pub/Sub, after their 202s: the view polls until it counts them.
    await page.waitForFunction(
      () =>
        Number(
          (
            globalThis as unknown as {
              document: { querySelector(s: string): { textContent: string } | null };
            }
          ).document.querySelector('[data-figure="depth"]')?.textContent,
        ) >= 6,
      { timeout: 30_000 },
    );
    await assertAccessible(page, 'the admin view');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'admin.png'), fullPage: true });
    await page.close();
    await modelBehaviour({ confidence: 0.5, failRate: 0 });
    assert.deepEqual(pageProblems, []);
  });

  it('flags a confident output that was sampled for quality review', async () => {
    await modelBehaviour({ confidence: 0.95 });
    await modelBehaviour({ confidence: 0.95 }, stack.modelB);
    const posted = await postInference('clinical-summary');
    // Already answered: the clinician has the output, and a reviewer looks at it too.
    assert.equal(posted.status, 200);
    const page = await signIn('rita');
    const row = `tr[data-id="${reviewIdOf(posted.body.id)}"]`;
    await page.waitForSelector(`${row} .badge.sampled`);
    assert.equal(await textOf(page, `${row} .badge.sampled`), 'Sampled');
    await page.close();
    assert.deepEqual(pageProblems, []);
  });
});
