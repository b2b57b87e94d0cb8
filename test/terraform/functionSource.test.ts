/**
 * The function source package (functions/dev/package.ts): what Cloud Build's `npm ci` will install, and
 * what Terraform zips and names by hash.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  isPackagingError,
  type Lockfile,
  type PackageManifest,
  PROJECT_ROOT,
  packageFunctionSource,
  pruneLockfile,
  runtimeManifest,
  unresolvedDependencies,
} from '../../functions/dev/package.js';

const rootManifest = JSON.parse(
  readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'),
) as PackageManifest;
const rootLock = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as Lockfile;

describe('function source package (npm run package)', () => {
  let scratch: string;

  before(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'function-source-test-'));
  });

  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('declares only the runtime dependencies, the compiled entry point, ESM and Node 22', () => {
    const manifest = runtimeManifest(rootManifest);
    assert.equal(manifest.main, 'functions/lib/index.js');
    assert.equal(manifest.type, 'module');
    assert.deepEqual(manifest.engines, { node: '>=22' });
    assert.deepEqual(manifest.dependencies, rootManifest.dependencies);
    assert.equal(manifest.devDependencies, undefined);
    // A `build` script would make Cloud Build's Node buildpack try to compile again, without TypeScript.
    assert.equal(manifest.scripts, undefined);
  });

  it('prunes the lock file to those dependencies, complete, and in sync for npm ci', () => {
    const manifest = runtimeManifest(rootManifest);
    const lock = pruneLockfile(rootLock, manifest);
    const devOnly = Object.entries(rootLock.packages).filter(([, e]) => e.dev);
    assert.ok(devOnly.length > 0, 'the root lock has development packages to drop');
    for (const [location] of devOnly)
      assert.equal(lock.packages[location], undefined, `${location} is dev-only`);
    for (const name of Object.keys(manifest.dependencies ?? {})) {
      assert.ok(lock.packages[`node_modules/${name}`], `${name} is missing`);
    }
    assert.deepEqual(unresolvedDependencies(lock), []);

    // npm itself agrees: `npm ci` refuses a lock file out of sync with package.json. --dry-run installs
    // nothing and --offline keeps it off the network.
    const dir = path.join(scratch, 'npm-ci');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest));
    writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(lock));
    const ci = spawnSync(
      'npm',
      ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'],
      {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(ci.status, 0, `npm ci --dry-run rejected the package:\n${ci.stdout}${ci.stderr}`);
  });

  it('notices a lock file that does not cover a dependency', () => {
    const lock = pruneLockfile(rootLock, runtimeManifest(rootManifest));
    const victim = Object.keys(lock.packages).find((p) => p === 'node_modules/zod')!;
    delete lock.packages[victim];
    assert.ok(unresolvedDependencies(lock).includes('(root) -> zod'));
  });

  it('builds the same bytes twice, with pinned mtimes, and leaves nothing behind when the build fails', function () {
    this.timeout(120_000);
    const root = fixtureProject(path.join(scratch, 'fixture'));
    const outDir = path.join(scratch, 'out', 'function-source');

    const first = snapshot(packageFunctionSource({ root, outDir }));
    assert.ok(first.has('functions/lib/index.js'));
    assert.ok(first.has('functions/lib/stream.json'), 'JSON the code imports is part of the package');
    assert.deepEqual(JSON.parse(first.get('package.json')!).main, 'functions/lib/index.js');
    for (const file of first.keys()) {
      assert.equal(statSync(path.join(outDir, file)).mtime.toISOString(), '2000-01-01T00:00:00.000Z', file);
    }
    const second = snapshot(packageFunctionSource({ root, outDir }));
    assert.deepEqual(second, first);

    writeFileSync(path.join(root, 'src', 'index.ts'), 'export const broken: number = "not a number";\n');
    assert.throws(() => packageFunctionSource({ root, outDir }), isPackagingError);
    assert.equal(existsSync(outDir), false, 'a failed build must not leave a package that could be deployed');
  });
});

/** A tiny project with the same layout and build configuration shape as this one. */
function fixtureProject(root: string): string {
  mkdirSync(path.join(root, 'src'), { recursive: true });
  symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  writeFileSync(
    path.join(root, 'package.json'),
    JSON.stringify({
      name: 'fixture',
      version: '1.2.3',
      type: 'module',
      dependencies: {},
      devDependencies: {},
    }),
  );
  writeFileSync(
    path.join(root, 'package-lock.json'),
    JSON.stringify({
      name: 'fixture',
      version: '1.2.3',
      lockfileVersion: 3,
      requires: true,
      packages: { '': { name: 'fixture', version: '1.2.3' } },
    }),
  );
  writeFileSync(
    path.join(root, 'tsconfig.build.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2024',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        resolveJsonModule: true,
        rootDir: 'src',
        outDir: 'lib',
        types: [],
      },
      include: ['src'],
    }),
  );
  writeFileSync(path.join(root, 'src', 'stream.json'), JSON.stringify({ label: 'x' }));
  writeFileSync(
    path.join(root, 'src', 'index.ts'),
    "import stream from './stream.json' with { type: 'json' };\nexport const label: string = stream.label;\n",
  );
  return root;
}

/** Relative path → content of every file under `dir`. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(path.join(dir, sub))) {
      const rel = sub ? `${sub}/${entry}` : entry;
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else files.set(rel, readFileSync(path.join(dir, rel), 'utf8'));
    }
  };
  walk('');
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}
