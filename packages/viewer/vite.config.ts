import { resolve } from 'node:path'
import { defineConfig } from 'vite'

// Two pages: the viewer (index.html, served by the web server) and the host's control page
// (control.html, served by the host's IPC port). Served at any path: relative asset URLs.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        control: resolve(import.meta.dirname, 'control.html'),
      },
    },
  },
})
