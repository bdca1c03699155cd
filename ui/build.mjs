// Builds the UI into dist/: index.html (Marathon's pages), master.html (the master's page),
// assets/app.{js,css} and assets/master.js (minified bundles).
// crates/webui embeds dist/ in the binary; run through `npm run build` (scripts/build-ui).
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';

const dist = new URL('./dist/', import.meta.url);
// Everything but the committed .gitkeep.
await mkdir(dist, { recursive: true });
for (const name of await readdir(dist)) {
  if (name !== '.gitkeep') await rm(new URL(name, dist), { recursive: true, force: true });
}
await build({
  entryPoints: { app: 'src/main.jsx', master: 'src/master/main.jsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: 'dist/assets',
  loader: { '.js': 'jsx' },
  logLevel: 'warning',
  legalComments: 'linked',
});
await build({ entryPoints: { app: 'src/style.css' }, bundle: true, minify: true, outdir: 'dist/assets', logLevel: 'warning' });
for (const page of ['index.html', 'master.html']) {
  await copyFile(new URL(`./${page}`, import.meta.url), new URL(page, dist));
}
console.log('ui: built dist/');
