import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import {
  renderSettingsDoc,
  SETTINGS_DOC,
  settingsDocIsStale,
  undescribed,
} from '../../functions/dev/settingsDoc.js';
import { envSchema as auditCliSchema } from '../../functions/src/cli/auditCliConfig.js';
import { envSchema as gatewaySchema } from '../../functions/src/config.js';

/**
 * docs/settings.md is generated from the zod schemas that parse the environment (`npm run docs:settings`): it
 * must be in step with them, and every variable must say what it is for.
 */
describe('settings reference (docs/settings.md)', () => {
  it('describes every variable of the functions and of the audit commands', () => {
    assert.deepEqual(undescribed(gatewaySchema), []);
    assert.deepEqual(undescribed(auditCliSchema), []);
  });

  it('is in step with the schemas (run `npm run docs:settings` after changing a setting)', () => {
    assert.equal(settingsDocIsStale(), false);
  });

  it('lists every variable, with its default', () => {
    const doc = readFileSync(SETTINGS_DOC, 'utf8');
    for (const name of [...Object.keys(gatewaySchema.shape), ...Object.keys(auditCliSchema.shape)]) {
      assert.match(doc, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
    }
    assert.match(doc, /^\| `REVIEW_LEASE_SECONDS` \| `600` \| integer, ≥ 30, ≤ 86400 \| How long/m);
    assert.match(doc, /^\| `BREAKER_SCOPE` \| empty \|/m);
    assert.match(doc, /^\| `AUTH_PRINCIPALS` \| — \| JSON \|/m);
  });

  it('finds a variable without a description, and a page that misses a variable', () => {
    const extended = gatewaySchema.extend({ NEW_SETTING: z.coerce.number().default(3) });
    assert.deepEqual(undescribed(extended), ['NEW_SETTING']);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'settings-doc-')), 'settings.md');
    writeFileSync(
      file,
      renderSettingsDoc(extended.extend({ NEW_SETTING: extended.shape.NEW_SETTING.describe('x') })),
    );
    assert.equal(settingsDocIsStale(file), true);
    writeFileSync(file, renderSettingsDoc());
    assert.equal(settingsDocIsStale(file), false);
  });
});
