/**
 * Does every Cloud Build step run in an image that has the programs it calls? `cloudbuildProblems` reads
 * cloudbuild.yaml and, per step, works out what it runs:
 *
 * - its entrypoint (or the image's), and for `bash -c` / `sh -c` every command of the script;
 * - for `npm run X` / `npm test`, the commands of package.json's script, recursively; for `npx X` and the
 *   programs of npm scripts, node_modules/.bin/X, which needs `node` (its shebang);
 * - for mocha, the test files its globs match (plus the `require`s of .mocharc.json unless `--no-config`),
 *   followed through their relative imports, and the programs those files spawn (SPAWNED_PROGRAMS: every
 *   file that spawns must be listed there, so a new spawn cannot go unnoticed);
 *
 * and compares that with IMAGES (what each image provides, with the source that says so), plus what the
 * step's PATH adds from /workspace/.toolchain/bin, filled by an earlier step it waits for. It also requires
 * every image to be pinned to an exact version or digest.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const COREUTILS = [
  'mkdir',
  'cp',
  'ln',
  'rm',
  'mv',
  'cat',
  'ls',
  'env',
  'tar',
  'gzip',
  'chmod',
  'sed',
  'grep',
];

type Image = {
  /** Where the list comes from. */
  source: string;
  /** The image's ENTRYPOINT, for steps that set none. */
  entrypoint: string | null;
  programs: readonly string[];
  /** An exact tag (or a digest) this image must be referenced by. */
  pinned: RegExp;
};

/** What each image provides, by repository (tag excluded). */
export const IMAGES: Readonly<Record<string, Image>> = {
  node: {
    source:
      'github.com/nodejs/docker-node 22/bookworm/Dockerfile: FROM buildpack-deps:bookworm (bash, git, curl, coreutils), Node in /usr/local (node, npm, npx, corepack), yarn',
    entrypoint: 'docker-entrypoint.sh',
    programs: ['node', 'npm', 'npx', 'corepack', 'yarn', 'bash', 'sh', 'git', 'curl', 'wget', ...COREUTILS],
    pinned: /^\d+\.\d+\.\d+-bookworm(@sha256:[0-9a-f]{64})?$/,
  },
  'gcr.io/google.com/cloudsdktool/google-cloud-cli': {
    source:
      'github.com/GoogleCloudPlatform/cloud-sdk-docker emulators/Dockerfile (debian:trixie-slim + curl, python3, bash, openjdk-25-jre-headless, gcloud in /google-cloud-sdk/bin with the emulators; no Node) and debian_slim/Dockerfile (gcloud, gsutil, bq, git, curl, python3; no Java, no Node)',
    entrypoint: null,
    programs: ['gcloud', 'gsutil', 'bq', 'bash', 'sh', 'curl', 'python3', ...COREUTILS],
    pinned: /^\d+\.\d+\.\d+-(emulators|slim)(@sha256:[0-9a-f]{64})?$/,
  },
  'hashicorp/terraform': {
    source:
      'github.com/hashicorp/terraform Dockerfile: FROM alpine, apk add git openssh, /bin/terraform, ENTRYPOINT ["/bin/terraform"]; busybox sh and coreutils, no bash',
    entrypoint: 'terraform',
    programs: ['terraform', 'git', 'ssh', 'sh', ...COREUTILS],
    pinned: /^\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$/,
  },
};

/** Extra programs by image variant: only the emulators image has Java. */
const VARIANT_PROGRAMS: Readonly<Record<string, readonly string[]>> = { emulators: ['java'] };

/**
 * Programs that source files run (spawn, spawnSync, execFile…). Every file of the code base that calls one
 * of those must be listed, with what it runs; `process.execPath` (this Node) needs nothing.
 */
export const SPAWNED_PROGRAMS: Readonly<Record<string, readonly string[]>> = {
  'functions/dev/asyncapi.ts': [], // process.execPath on Biome's launcher (formats the generated JSON)
  'functions/dev/emulators.ts': ['gcloud', 'java', 'bash'], // finds the SDK; the launchers are bash scripts
  'functions/dev/package.ts': ['node'], // node_modules/.bin/tsc (#!/usr/bin/env node)
  'functions/dev/processes.ts': [], // spawns what its callers pass
  'functions/dev/stack.ts': [], // process.execPath
  'test/terraform/functionSource.test.ts': ['npm'],
  'test/terraform/terraformCli.test.ts': ['terraform'],
  'test/terraform/variableValidation.test.ts': ['terraform'],
  'test/unit/gaxFallbackPreload.test.ts': [], // process.execPath on test/fixtures/commitResolutions.mjs
  'test/unit/signalRelay.test.ts': [], // process.execPath on test/fixtures/busyAtSignal.ts
};

const TOOLCHAIN_BIN = '/workspace/.toolchain/bin';
const SHELL_BUILTINS = new Set([
  '[',
  'test',
  'echo',
  'exit',
  'cd',
  'export',
  'set',
  'true',
  'false',
  'printf',
  'read',
  'local',
  'source',
  '.',
  'eval',
  'shift',
  'unset',
]);
const SHELL_KEYWORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'for',
  'until',
  '!',
  '{',
  '}',
]);

type Step = {
  id?: string;
  name: string;
  entrypoint?: string;
  args?: string[];
  env?: string[];
  waitFor?: string[];
  dir?: string;
};

export type CloudBuildFile = { substitutions?: Record<string, string>; steps: Step[] };

export function readCloudBuild(file = path.join(PROJECT_ROOT, 'cloudbuild.yaml')): CloudBuildFile {
  return parseYaml(readFileSync(file, 'utf8')) as CloudBuildFile;
}

/** Every step calling a program its image does not provide, and every image not pinned. */
export function cloudbuildProblems(build: CloudBuildFile, root = PROJECT_ROOT): string[] {
  const problems: string[] = [];
  const substitutions = build.substitutions ?? {};
  const expand = (text: string) =>
    text
      .replace(/\$\{(_[A-Z0-9_]+)\}/g, (whole, name: string) => substitutions[name] ?? whole)
      .replace(/\$\$/g, '$');
  const steps = build.steps.map((step, index) => ({ ...step, id: step.id ?? `step-${index}`, index }));

  const toolchainFiles = new Map<string, Set<string>>(); // step id → programs it puts in TOOLCHAIN_BIN
  for (const step of steps) {
    const script = shellScript(step, expand);
    if (script === null) continue;
    const programs = new Set<string>();
    for (const command of shellCommands(script)) {
      const [program, ...args] = command;
      if (program !== 'cp' && program !== 'ln') continue;
      const operands = args.filter((a) => !a.startsWith('-'));
      const target = operands.at(-1);
      if (!target?.startsWith(TOOLCHAIN_BIN)) continue;
      const name =
        target.endsWith('/') || target === TOOLCHAIN_BIN
          ? path.basename(operands[0]!)
          : path.basename(target);
      programs.add(name);
    }
    if (programs.size > 0) toolchainFiles.set(step.id, programs);
  }

  const ancestors = (step: (typeof steps)[number]): Set<string> => {
    const seen = new Set<string>();
    const visit = (s: (typeof steps)[number]) => {
      const waits = s.waitFor ?? steps.slice(0, s.index).map((p) => p.id);
      for (const id of waits) {
        if (id === '-' || seen.has(id)) continue;
        seen.add(id);
        const parent = steps.find((p) => p.id === id);
        if (parent) visit(parent);
      }
    };
    visit(step);
    return seen;
  };

  for (const step of steps) {
    const imageRef = expand(step.name);
    const { repository, tag } = splitImage(imageRef);
    const image = IMAGES[repository];
    if (!image) {
      problems.push(`${step.id}: image ${imageRef} is not in the table of known images`);
      continue;
    }
    if (!image.pinned.test(tag))
      problems.push(`${step.id}: image ${imageRef} is not pinned to an exact version`);
    const variant = /(?:^|-)([a-z_]+)(?:@|$)/.exec(tag)?.[1] ?? '';
    const provided = new Set([...image.programs, ...(VARIANT_PROGRAMS[variant] ?? [])]);
    const pathEntry = (step.env ?? []).find((e) => e.startsWith('PATH='));
    if (pathEntry?.slice(5).split(':').includes(TOOLCHAIN_BIN)) {
      for (const id of ancestors(step))
        for (const program of toolchainFiles.get(id) ?? []) provided.add(program);
    }
    const needed = new Map<string, string>(); // program → why
    for (const [program, why] of programsOfStep(step, expand, image, root))
      if (!needed.has(program)) needed.set(program, why);
    for (const [program, why] of needed) {
      if (!provided.has(program))
        problems.push(`${step.id}: runs ${program} (${why}), which ${imageRef} does not provide`);
    }
  }
  return problems;
}

function splitImage(ref: string): { repository: string; tag: string } {
  const at = ref.indexOf('@');
  const withoutDigest = at === -1 ? ref : ref.slice(0, at);
  const colon = withoutDigest.lastIndexOf(':');
  const slash = withoutDigest.lastIndexOf('/');
  if (colon <= slash) return { repository: withoutDigest, tag: at === -1 ? '' : ref.slice(at) };
  return {
    repository: withoutDigest.slice(0, colon),
    tag: withoutDigest.slice(colon + 1) + (at === -1 ? '' : ref.slice(at)),
  };
}

function shellScript(step: Step, expand: (t: string) => string): string | null {
  if (step.entrypoint !== 'bash' && step.entrypoint !== 'sh') return null;
  const args = step.args ?? [];
  const c = args.indexOf('-c');
  return c === -1 ? null : expand(args[c + 1] ?? '');
}

function* programsOfStep(
  step: Step,
  expand: (t: string) => string,
  image: Image,
  root: string,
): Generator<[string, string]> {
  const script = shellScript(step, expand);
  const entrypoint = step.entrypoint ?? image.entrypoint;
  if (!entrypoint) return;
  yield [entrypoint, 'entrypoint'];
  if (script !== null) {
    for (const command of shellCommands(script)) yield* programsOfCommand(command, root, 'script');
  } else if (entrypoint !== image.entrypoint || step.entrypoint) {
    yield* programsOfCommand([entrypoint, ...(step.args ?? []).map(expand)], root, 'args');
  }
}

function* programsOfCommand(argv: string[], root: string, why: string): Generator<[string, string]> {
  const [program, ...args] = argv;
  if (!program) return;
  if (program.includes('/')) {
    // A file of the workspace (e.g. node_modules/.bin/node after npm ci): no PATH lookup. A Node running
    // mocha's own script is mocha.
    if (path.basename(program) === 'node' && args[0]?.endsWith('mocha.js')) {
      yield* mochaPrograms(['mocha', ...args.slice(1)], root);
    }
    return;
  }
  yield [program, why];
  if (program === 'npm') {
    const script =
      args[0] === 'run' || args[0] === 'run-script' ? args[1] : args[0] === 'test' ? 'test' : null;
    if (!script) return;
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const text = manifest.scripts[script];
    if (text === undefined) {
      yield [`npm script ${script}`, `npm run ${script}: no such script`];
      return;
    }
    for (const command of shellCommands(text)) {
      const [first] = command;
      if (first && existsSync(path.join(root, 'node_modules', '.bin', first))) {
        yield ['node', `npm run ${script}: ${first} is node_modules/.bin/${first}`];
        yield* mochaPrograms(command, root);
      } else {
        yield* programsOfCommand(command, root, `npm run ${script}`);
      }
    }
  } else if (program === 'npx') {
    const bin = args.find((a) => !a.startsWith('-'));
    if (!bin) return;
    yield ['node', `npx ${bin}`];
    yield* mochaPrograms([bin, ...args.slice(args.indexOf(bin) + 1)], root);
  }
}

/** For a mocha command line: the programs the test files it loads spawn. */
function* mochaPrograms(argv: string[], root: string): Generator<[string, string]> {
  if (argv[0] !== 'mocha') return;
  const globs = argv.slice(1).filter((a) => !a.startsWith('-') && a.includes('test'));
  const files = new Set(globs.flatMap((g) => expandGlob(root, g)));
  if (!argv.includes('--no-config')) {
    const rc = JSON.parse(readFileSync(path.join(root, '.mocharc.json'), 'utf8')) as { require?: string[] };
    for (const r of rc.require ?? []) files.add(path.normalize(r));
  }
  for (const file of importClosure(root, [...files])) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const spawns = /\b(spawn|spawnSync|execFile|execFileSync|exec|execSync|fork)\(/.test(
      text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '').replace(/\.exec\(/g, ''),
    );
    const listed = SPAWNED_PROGRAMS[file];
    if (spawns && !listed) {
      yield [`(undeclared) ${file}`, `${file} starts processes: list what it runs in SPAWNED_PROGRAMS`];
      continue;
    }
    for (const program of listed ?? []) yield [program, `spawned by ${file}`];
  }
}

/** A glob of the form `dir/**\/*.suffix` or a plain path. */
function expandGlob(root: string, glob: string): string[] {
  const clean = glob.replace(/^['"]|['"]$/g, '');
  const star = clean.indexOf('**/');
  if (star === -1) return existsSync(path.join(root, clean)) ? [path.normalize(clean)] : [];
  const base = clean.slice(0, star);
  const suffix = clean.slice(star + 3).replace(/^\*/, '');
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(path.join(root, dir))) return;
    for (const entry of readdirSync(path.join(root, dir))) {
      const rel = path.join(dir, entry);
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel);
      else if (entry.endsWith(suffix)) found.push(rel);
    }
  };
  walk(base);
  return found;
}

/** The files reachable from `entries` through relative imports (`./x.js` → `./x.ts`). */
function importClosure(root: string, entries: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || !existsSync(path.join(root, file))) continue;
    seen.add(file);
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.normalize(path.join(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts');
      queue.push(target);
    }
  }
  return [...seen];
}

/** The commands of a POSIX shell script, as argument vectors (quotes removed, keywords and assignments skipped). */
export function shellCommands(script: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    while (words.length > 0 && (SHELL_KEYWORDS.has(words[0]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)))
      words.shift();
    if (words.length > 0 && !SHELL_BUILTINS.has(words[0]!)) commands.push(words);
    words = [];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (c === "'" || c === '"') {
      const end = script.indexOf(c, i + 1);
      word += script.slice(i + 1, end === -1 ? undefined : end);
      inWord = true;
      i = end === -1 ? script.length : end;
    } else if (c === '\\' && script[i + 1] === '\n') {
      i++;
    } else if (c === '\n' || c === ';' || c === '|' || c === '&') {
      endCommand();
      while (script[i + 1] === c) i++;
    } else if (c === '#' && !inWord) {
      while (i < script.length && script[i] !== '\n') i++;
      endCommand();
    } else if (/\s/.test(c)) {
      endWord();
      if (words.length === 1 && SHELL_KEYWORDS.has(words[0]!)) words = [];
    } else if (c === '>' || c === '<') {
      endWord();
      while (script[i + 1] && /[>&0-9]/.test(script[i + 1]!)) i++;
      // The redirection target is not a command.
      while (script[i + 1] === ' ') i++;
      let j = i + 1;
      while (j < script.length && !/[\s;|&]/.test(script[j]!)) j++;
      i = j - 1;
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}
