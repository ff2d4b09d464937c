import { defineConfig } from 'vite'

// The viewer is served by the host's HTTP server from dist/, at any path: relative asset URLs.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022' },
})
