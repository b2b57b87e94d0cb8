import { createRequire } from 'node:module';

/**
 * Loads `google-gax/fallback` once, as the Firestore SDK's own files will ask for it, before anything else
 * loads google-gax: imported first by the entry point (index.ts), for its side effect only.
 *
 * Why: the SDK calls `require('google-gax/fallback')` on every commit (`createCallOptions`, index.js of
 * @google-cloud/firestore 9.4.1). Node answers a repeated `require` from its per-directory cache only when
 * that directory's first `require` of the name is the one that loaded the module; google-gax loads the same
 * file itself first (as `./fallback`), so every commit resolved the package's `exports` again: stat calls and
 * package.json reads, 5–7 % of the inference API's CPU at 300 req/s (docs/benchmarks.md). Loaded here first,
 * with the SDK's directory as the requiring module's, the name is cached for that directory, and the SDK's
 * later calls are a lookup. Harmless if the SDK stops doing this: it is one module loaded early.
 * test/unit/gaxFallbackPreload.test.ts checks that a commit resolves no module once this ran.
 */
const fromHere = createRequire(import.meta.url);
createRequire(fromHere.resolve('@google-cloud/firestore'))('google-gax/fallback');
