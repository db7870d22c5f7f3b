// The viewer's UI kit (Vue 3 + Element Plus, zh-CN first), bundled from npm by `make ui` into
// viewer/ui/dist (not committed). The scene stays plain ES modules around CesiumJS: main.js imports
// dist/panels.js after the first full view.
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

// Vue's and Element Plus's warnings point at their web sites; the viewer names no outside host
// (it works offline), so the bundle keeps the page's path and drops the host.
const DOC_LINK = /https:\/\/(element-plus|vuejs)\.org\//g;
const DOCS = { 'element-plus': 'Element Plus docs: ', vuejs: 'Vue docs: ' };
const offlineLinks = {
  name: 'cim-offline-links',
  renderChunk: (code) => ({ code: code.replace(DOC_LINK, (_, site) => DOCS[site]), map: null }),
};

export default defineConfig({
  root: here('.'),
  base: './',
  plugins: [vue(), offlineLinks],
  define: { 'process.env.NODE_ENV': JSON.stringify('production'), __VUE_OPTIONS_API__: false, __VUE_PROD_DEVTOOLS__: false },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    rollupOptions: {
      input: { panels: here('src/panels.js') },
      preserveEntrySignatures: 'exports-only',
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
        assetFileNames: '[name][extname]',
      },
    },
  },
});
