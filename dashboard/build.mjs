// build.mjs — bundles src/main.js (with uPlot and its CSS) by esbuild and
// inlines the result into src/index.html, writing one self-contained file,
// dist/index.html, that the daemon serves at GET / (no CDN, works offline).
// Run by `npm run build` (after `npm ci`); `make dashboard` does both.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The bundled library's licence travels with the page.
const uplotPkg = JSON.parse(readFileSync(join(here, 'node_modules/uplot/package.json'), 'utf8'));
const licence = readFileSync(join(here, 'node_modules/uplot/LICENSE'), 'utf8').replace(/\*\//g, '* /').trim();
const banner = `/*! Bundled: uPlot ${uplotPkg.version} (https://github.com/leeoniya/uPlot)\n${licence}\n*/`;
const out = await build({
  entryPoints: [join(here, 'src/main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  legalComments: 'none',
  banner: { js: banner },
  outdir: 'out',             // names only: write is false
  write: false,
  logLevel: 'warning',
});
const pick = (ext) => out.outputFiles.filter((f) => f.path.endsWith(ext)).map((f) => f.text).join('\n');
// Neither may close its element early.
const js = pick('.js').replace(/<\/(script)/gi, '<\\/$1');
const css = pick('.css').replace(/<\/(style)/gi, '<\\/$1');
const tpl = readFileSync(join(here, 'src/index.html'), 'utf8');
if (!tpl.includes('/*@CSS@*/') || !tpl.includes('/*@JS@*/')) throw new Error('src/index.html lacks a placeholder');
// Function replacements: the bundle may contain `$&` and friends.
const page = tpl.replace('/*@CSS@*/', () => css).replace('/*@JS@*/', () => js);
mkdirSync(join(here, 'dist'), { recursive: true });
writeFileSync(join(here, 'dist/index.html'), page);
console.log(`dist/index.html: ${page.length} bytes`);
