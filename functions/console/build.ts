/**
 * Builds the reviewer console (functions/console/src) into static files that the reviewer function serves
 * under `/console/`: `index.html`, and `assets/` with content-hashed names (so they can be cached for good).
 * `npm run build` writes them to functions/lib/console/; the function package (npm run package) to its own
 * copy. No script or style is inlined: the page runs under a Content-Security-Policy without 'unsafe-inline'.
 *
 *   tsx functions/console/build.ts [outDir]
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const SOURCE_DIR = fileURLToPath(new URL('./src/', import.meta.url));
export const DEFAULT_CONSOLE_OUT_DIR = fileURLToPath(new URL('../lib/console/', import.meta.url));

/**
 * zod's namespace re-exports every message locale (about 260 KB of the bundle); the console speaks English
 * only, and zod uses English unless told otherwise, so its locale index is replaced by English alone.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
        ? { path: 'zod-locales-en', namespace: 'zod-english-only' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({
      contents: "export { default as en } from 'zod/v4/locales/en.js';",
      resolveDir: path.dirname(fileURLToPath(import.meta.url)),
      loader: 'js',
    }));
  },
};

export async function buildConsole(outDir: string = DEFAULT_CONSOLE_OUT_DIR): Promise<string[]> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(path.join(outDir, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: { console: path.join(SOURCE_DIR, 'main.tsx') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: 'assets/[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    outdir: outDir,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [zodEnglishOnly],
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => path.relative(outDir, file));
  const script = outputs.find((file) => file.endsWith('.js'));
  const style = outputs.find((file) => file.endsWith('.css'));
  if (!script || !style) throw new Error(`console build: expected a script and a stylesheet, got ${outputs}`);
  const html = readFileSync(path.join(SOURCE_DIR, 'index.html'), 'utf8')
    .replace('%SCRIPT%', `./${script}`)
    .replace('%STYLE%', `./${style}`);
  writeFileSync(path.join(outDir, 'index.html'), html);
  copyFileSync(path.join(SOURCE_DIR, 'favicon.svg'), path.join(outDir, 'favicon.svg'));
  return ['index.html', 'favicon.svg', ...outputs];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = path.resolve(process.argv[2] ?? DEFAULT_CONSOLE_OUT_DIR);
  const files = await buildConsole(outDir);
  console.log(`reviewer console: ${files.length} files in ${path.relative(process.cwd(), outDir) || '.'}`);
}
