// Builds the web app into clients/web/dist (`npm run build:web`), which the API serves at `/`.
// Preact with the automatic JSX runtime; the SDK's `mqtt` import resolves to mqtt.js's
// browser bundle through the package's `browser` export condition, so nothing Node-only
// enters the bundle. `npx vite clients/web` serves it for development, with /api and /mqtt
// passed on to a Chime on 127.0.0.1:8080.
import { defineConfig } from 'vite'

const api = 'http://127.0.0.1:8080'

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // The polyfill would be an inline script, which the app's Content-Security-Policy forbids.
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': api,
      '/mqtt': { target: api, ws: true },
    },
  },
})
