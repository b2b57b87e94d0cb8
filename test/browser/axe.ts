import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Page } from 'puppeteer-core';

const axeSource: string = createRequire(import.meta.url)('axe-core').source;

/** WCAG 2.0, 2.1 and 2.2, levels A and AA: the level the console is held to. */
export const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] as const;

type AxeViolation = { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] };

/**
 * Runs axe-core in the page and fails on any WCAG AA violation, naming each rule and element. axe is
 * evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern, so the
 * page under test keeps its production CSP.
 */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(
    (tags) =>
      (
        globalThis as unknown as {
          axe: { run(ctx: unknown, options: unknown): Promise<{ violations: unknown[] }> };
        }
      ).axe
        .run((globalThis as unknown as { document: unknown }).document, {
          runOnly: { type: 'tag', values: tags },
          resultTypes: ['violations'],
        })
        .then((r) => r.violations),
    [...WCAG_AA],
  )) as AxeViolation[];
  const report = violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`,
  );
  assert.deepEqual(report, [], `accessibility violations on ${what}`);
}
