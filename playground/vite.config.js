import { defineConfig } from 'vite';

// The gateway serves this build at /playground/ (assets embedded in the binary).
// Everything the page needs is bundled: no CDN, no web fonts, no telemetry.
export default defineConfig({
  base: '/playground/',
  esbuild: {
    jsx: 'automatic',
    legalComments: 'none',
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // Inline nothing as data: URLs beyond what the CSS already carries, so the
    // output is just files under assets/.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2048,
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
});
