import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import GithubSlugger from 'github-slugger';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';

/**
 * The README is an index into docs/: every relative link in the README, docs/*.md and terraform/README.md must
 * reach a file that exists and, with a `#fragment`, a heading (GitHub's anchor for it) or an explicit
 * `<a id>` in that file. A section moved or renamed without its links is a broken promise to a newcomer.
 */

/** Markdown without its fenced code blocks, where `[x](y)` is not a link. */
const withoutCode = (text: string) => text.replace(/^```[\s\S]*?^```/gm, '');

/** The anchors a Markdown file offers: GitHub's slugs of its headings, and explicit `<a id="…">`. */
function anchorsOf(text: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const [, heading] of withoutCode(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    anchors.add(slugger.slug(heading!.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')));
  }
  for (const [, id] of text.matchAll(/<a id="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

/** Relative links of one Markdown file that lead nowhere, as `target` strings. */
function brokenLinks(file: string, read = (f: string) => readFileSync(f, 'utf8')): string[] {
  const broken: string[] = [];
  for (const [, target] of withoutCode(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target!)) continue;
    const [relative, fragment] = target!.split('#') as [string, string | undefined];
    const resolved = relative ? path.resolve(path.dirname(file), relative) : file;
    if (!existsSync(resolved)) {
      broken.push(target!);
    } else if (fragment && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(fragment)) {
      broken.push(target!);
    }
  }
  return broken;
}

const docs = [
  path.join(PROJECT_ROOT, 'README.md'),
  path.join(PROJECT_ROOT, 'terraform/README.md'),
  ...readdirSync(path.join(PROJECT_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join(PROJECT_ROOT, 'docs', name)),
];

describe('documentation links', () => {
  for (const file of docs) {
    it(`${path.relative(PROJECT_ROOT, file)}: every relative link reaches its file and heading`, () => {
      assert.deepEqual(brokenLinks(file), []);
    });
  }

  it('links to every topic doc from the README', () => {
    const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    for (const file of docs.filter((f) => f.endsWith('.md') && !f.endsWith(`${path.sep}README.md`))) {
      const relative = path.relative(PROJECT_ROOT, file);
      assert.ok(readme.includes(`](${relative})`), `README.md does not link ${relative}`);
    }
    assert.ok(readme.includes('](terraform/README.md)'));
  });

  it('keeps the README to two screens', () => {
    const lines = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8').trimEnd().split('\n');
    assert.ok(lines.length <= 150, `README.md has ${lines.length} lines`);
  });

  it('finds a missing file and a missing heading, and ignores code blocks', () => {
    const readme = path.join(PROJECT_ROOT, 'README.md');
    const fake = [
      '[ok](docs/review.md#a-reviewers-day) [ok](docs/deployment.md#dead-letters) [ok](https://example.org/x)',
      '[bad](docs/nothing-here.md) [bad](docs/review.md#nope)',
      '```',
      '[in code](nowhere.md)',
      '```',
    ].join('\n');
    const read = (file: string) => (file === readme ? fake : readFileSync(file, 'utf8'));
    assert.deepEqual(brokenLinks(readme, read), ['docs/nothing-here.md', 'docs/review.md#nope']);
  });

  it("makes GitHub's anchors: code marks and punctuation dropped, repeats numbered", () => {
    const anchors = anchorsOf(
      "## A reviewer's day\n## Local wiring (`npm start`)\n## Settings\n## Settings\n",
    );
    assert.deepEqual([...anchors], ['a-reviewers-day', 'local-wiring-npm-start', 'settings', 'settings-1']);
  });
});
