/**
 * `terraform fmt -check` and `terraform validate` on the root module, when they can run here.
 *
 * - fmt needs only the terraform binary; without one the test is skipped, saying so.
 * - validate needs the google, google-beta and archive providers, which `terraform init` downloads from the
 *   Terraform registry. Where the registry cannot be reached (this sandbox has no network but the package
 *   registries) init fails within a fraction of a second and the test is skipped with init's own reason; in
 *   Cloud Build (and on a developer machine with network) it runs. Init is time-boxed, writes its working
 *   data to a cache directory outside the repository (TF_DATA_DIR, TF_PLUGIN_CACHE_DIR) and never touches a
 *   backend (-backend=false), so it is safe to run anywhere.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TERRAFORM_DIR } from './terraformModule.js';

const TERRAFORM = process.env.TERRAFORM_BIN ?? 'terraform';
/** Long enough to download three providers on a normal connection; without network init fails at once. */
const INIT_TIMEOUT_MS = 120_000;
/** A cache, kept between runs (each test run's temporary directory is removed when it ends). */
const CACHE_DIR = path.join(
  process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'),
  'clinical-ai-gateway-terraform',
);

/**
 * init output that means "the registry cannot be reached", as opposed to a broken configuration or a
 * version constraint no release matches (those fail the test).
 */
const UNREACHABLE_REGISTRY = [
  /could not connect to registry/i,
  /no such host/i,
  /dial tcp/i,
  /i\/o timeout/i,
  /connection refused/i,
  /network is unreachable/i,
  /TLS handshake timeout/i,
];

type Run = { status: number | null; output: string; timedOut: boolean; missing: boolean };

function terraform(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(TERRAFORM, args, {
    cwd: TERRAFORM_DIR,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', ...env },
  });
  const error = result.error as NodeJS.ErrnoException | undefined;
  return {
    status: result.status,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}`,
    timedOut: error?.code === 'ETIMEDOUT',
    missing: error?.code === 'ENOENT',
  };
}

/** The first line of terraform's error output worth quoting. */
function firstError(output: string): string {
  const lines = output.split('\n').map((l) => l.replace(/^[│╷╵\s]+/, '').trim());
  const start = lines.findIndex((l) => l.startsWith('Error:'));
  const quoted = (
    start === -1 ? lines.filter(Boolean).slice(-3) : lines.slice(start, start + 8).filter(Boolean)
  ).join(' ');
  return quoted.length > 400 ? `${quoted.slice(0, 400)}…` : quoted;
}

const version = terraform(['version'], 10_000);
const binaryMissing = version.missing
  ? `no ${TERRAFORM} binary on PATH (set TERRAFORM_BIN to use another)`
  : null;

describe('terraform CLI checks of terraform/', function () {
  this.timeout(INIT_TIMEOUT_MS + 60_000);

  it(
    binaryMissing
      ? `terraform fmt -check (skipped: ${binaryMissing})`
      : 'is formatted (terraform fmt -check)',
    function () {
      if (binaryMissing) this.skip();
      const fmt = terraform(['fmt', '-check', '-diff', '-no-color', '-recursive', '.'], 30_000);
      assert.equal(
        fmt.status,
        0,
        `terraform fmt -check found unformatted files; run \`terraform -chdir=terraform fmt\`:\n${fmt.output}`,
      );
    },
  );

  it(
    binaryMissing
      ? `terraform validate (skipped: ${binaryMissing})`
      : 'is valid (terraform validate, when the providers can be installed)',
    function () {
      if (binaryMissing) this.skip();
      mkdirSync(path.join(CACHE_DIR, 'plugins'), { recursive: true });
      const env = {
        TF_DATA_DIR: path.join(CACHE_DIR, 'data'),
        TF_PLUGIN_CACHE_DIR: path.join(CACHE_DIR, 'plugins'),
      };
      const lockArgs = existsSync(path.join(TERRAFORM_DIR, '.terraform.lock.hcl'))
        ? ['-lockfile=readonly']
        : [];
      const init = terraform(
        ['init', '-backend=false', '-input=false', '-no-color', ...lockArgs],
        INIT_TIMEOUT_MS,
        env,
      );
      if (init.timedOut || (init.status !== 0 && UNREACHABLE_REGISTRY.some((re) => re.test(init.output)))) {
        const reason = init.timedOut
          ? `terraform init did not finish within ${INIT_TIMEOUT_MS / 1000} s`
          : `the providers cannot be installed here: ${firstError(init.output)}`;
        console.warn(`      terraform validate skipped: ${reason} (Cloud Build runs it)`);
        this.skip();
      }
      assert.equal(init.status, 0, `terraform init failed on the configuration itself:\n${init.output}`);

      const validate = terraform(['validate', '-json', '-no-color'], 60_000, env);
      const report = JSON.parse(validate.output.slice(validate.output.indexOf('{'))) as {
        valid: boolean;
        diagnostics: {
          severity: string;
          summary: string;
          detail?: string;
          range?: { filename: string; start: { line: number } };
        }[];
      };
      const errors = report.diagnostics
        .filter((d) => d.severity === 'error')
        .map(
          (d) =>
            `${d.range ? `${d.range.filename}:${d.range.start.line}: ` : ''}${d.summary}${d.detail ? ` (${d.detail})` : ''}`,
        );
      assert.ok(report.valid, `terraform validate:\n${errors.join('\n')}`);
    },
  );
});
