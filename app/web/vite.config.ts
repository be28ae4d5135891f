/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the app with hot reload and sends the API and the
// WebSocket to a running platform (scripts/dev.sh, port 8000).
const platform = process.env.HARMONY_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: false },
  // Unit tests only; app/web/e2e runs in a browser (app/tests/it/web.rs).
  test: { include: ['src/**/*.test.{ts,tsx}'] },
  server: {
    proxy: {
      '/api': platform,
      '/connection': { target: platform.replace(/^http/, 'ws'), ws: true },
    },
  },
});
