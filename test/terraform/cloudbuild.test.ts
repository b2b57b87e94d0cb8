/**
 * cloudbuild.yaml runs every step in an image that has what the step calls (`npm run ci:lint` runs this
 * file alone). Each check is proven by a mutation of the real file that it must refuse.
 */
import assert from 'node:assert/strict';
import { type CloudBuildFile, cloudbuildProblems, readCloudBuild, shellCommands } from './cloudbuildCheck.js';

type Mutation = { name: string; apply: (build: CloudBuildFile) => void; expect: RegExp };

const step = (build: CloudBuildFile, id: string) => {
  const found = build.steps.find((s) => s.id === id);
  assert.ok(found, `cloudbuild.yaml has no step ${id}`);
  return found;
};

const MUTATIONS: Mutation[] = [
  {
    name: 'the test steps as they were: mocha in the emulators image, without Node or npm on PATH',
    apply: (build) => {
      const tests = step(build, 'unit-tests');
      delete tests.env;
      tests.args = [
        '-c',
        "node_modules/.bin/node node_modules/mocha/bin/mocha.js 'test/unit/**/*.test.ts' 'test/terraform/**/*.test.ts'",
      ];
    },
    expect: /unit-tests: runs npm \(spawned by test\/terraform\/functionSource\.test\.ts\)/,
  },
  {
    name: 'npx in the emulators image without the Node toolchain on PATH',
    apply: (build) => {
      delete step(build, 'integration-tests').env;
    },
    expect: /integration-tests: runs npx/,
  },
  {
    name: 'the toolchain on PATH without waiting for the step that fills it',
    apply: (build) => {
      step(build, 'unit-tests').waitFor = ['install'];
    },
    expect: /unit-tests: runs npx/,
  },
  {
    name: 'the policy tests without terraform',
    apply: (build) => {
      step(build, 'policy-tests').waitFor = ['install'];
    },
    expect: /policy-tests: runs terraform \(spawned by test\/terraform\/\w+\.test\.ts\)/,
  },
  {
    name: 'bash in the terraform image (Alpine: busybox sh only)',
    apply: (build) => {
      step(build, 'terraform-apply').entrypoint = 'bash';
    },
    expect: /terraform-apply: runs bash \(entrypoint\)/,
  },
  {
    name: 'an npm script that does not exist',
    apply: (build) => {
      step(build, 'package').args = ['run', 'pakage'];
    },
    expect: /package: runs npm script pakage/,
  },
  {
    name: 'a floating image tag',
    apply: (build) => {
      build.substitutions!._EMULATORS_IMAGE = 'gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators';
    },
    expect: /unit-tests: image gcr\.io\/google\.com\/cloudsdktool\/google-cloud-cli:emulators is not pinned/,
  },
  {
    name: 'a minor-version terraform tag',
    apply: (build) => {
      build.substitutions!._TERRAFORM_IMAGE = 'hashicorp/terraform:1.11';
    },
    expect: /terraform-plan: image hashicorp\/terraform:1\.11 is not pinned/,
  },
];

describe('cloudbuild.yaml: each step runs in an image that has what it calls', () => {
  it('finds nothing to object to in cloudbuild.yaml', () => {
    assert.deepEqual(cloudbuildProblems(readCloudBuild()), []);
  });

  it('applies only with the apply trigger, and plans without the state lock otherwise', () => {
    const build = readCloudBuild();
    assert.equal(build.substitutions?._APPLY, 'false', 'a build without trigger substitutions only plans');
    const apply = shellCommands(String(step(build, 'terraform-apply').args?.[1]));
    assert.deepEqual(
      apply.map((c) => c.slice(0, 2)),
      [['terraform', 'apply']],
    );
    assert.match(String(step(build, 'terraform-apply').args?.[1]), /if \[ "\$\{_APPLY\}" = "true" \]/);
    assert.match(String(step(build, 'terraform-plan').args?.[1]), /else lock=-lock=false/);
  });

  for (const mutation of MUTATIONS) {
    it(`refuses ${mutation.name}`, () => {
      const build = readCloudBuild();
      mutation.apply(build);
      const problems = cloudbuildProblems(build);
      assert.ok(
        problems.some((p) => mutation.expect.test(p)),
        `expected a problem matching ${mutation.expect}, got:\n${problems.join('\n')}`,
      );
    });
  }

  it('splits shell scripts into the commands they run', () => {
    assert.deepEqual(
      shellCommands(
        'if [ "$X" = "true" ]; then lock=-a; else lock=-b; fi\nterraform plan $lock\necho "a; b && c" >&2 && npm ci || exit 1',
      ),
      [
        ['terraform', 'plan', '$lock'],
        ['npm', 'ci'],
      ],
    );
  });
});
