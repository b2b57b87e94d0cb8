import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Firestore SDK requires `google-gax/fallback` on every commit; unless the preload ran first, Node resolves
 * the package's exports again each time (functions/src/adapters/firestore/gaxFallbackPreload.ts). Measured in
 * a process of its own on plain Node, as a deployed function loads modules, against the test emulator.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const preload = path.join(root, 'functions/src/adapters/firestore/gaxFallbackPreload.ts');

function resolutionsPerCommit(): number {
  const out = execFileSync(
    process.execPath,
    [path.join(root, 'test/fixtures/commitResolutions.mjs'), preload],
    {
      cwd: root,
      // The preload is TypeScript with nothing but erasable syntax: plain Node strips the types.
      env: { ...process.env, NODE_OPTIONS: '', NODE_NO_WARNINGS: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return (JSON.parse(out.trim().split('\n').at(-1)!) as { perCommit: number }).perCommit;
}

describe('google-gax preload (module resolution on the commit path)', () => {
  it('with the preload loaded first, a Firestore commit resolves no module', () => {
    assert.equal(resolutionsPerCommit(), 0);
  });

  it('the entry point imports the preload before anything else', () => {
    const firstImport = readFileSync(path.join(root, 'functions/src/index.ts'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith('import '));
    assert.equal(firstImport, "import './adapters/firestore/gaxFallbackPreload.js';");
  });
});
