import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, normalize, resolve } from 'node:path'

/** The built browser apps (vite build output): the viewer (index.html) and the host's control page. */
export const VIEWER_DIST = resolve(import.meta.dirname, '../../../viewer/dist')

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/**
 * Serves one file of dist/ for a GET or HEAD: `/` is `page`, other paths
 * must be in `allowed` (a predicate on the normalised path) and inside dist/
 * (a path that normalises outside it is not found). HTML is never cached.
 */
export async function serveDist(
  req: IncomingMessage,
  res: ServerResponse,
  options: { page: string; allowed: (path: string) => boolean; headers?: Record<string, string> },
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end()
    return
  }
  let path: string
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
  } catch {
    res.writeHead(400).end()
    return
  }
  const relative = normalize(path === '/' ? options.page : path).replace(/^(\.\.[/\\])+/, '')
  const file = join(VIEWER_DIST, relative)
  if (!file.startsWith(`${VIEWER_DIST}/`) || (relative !== options.page && !options.allowed(relative))) {
    res.writeHead(404).end()
    return
  }
  try {
    const body = await readFile(file)
    const html = extname(file) === '.html'
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': html ? 'no-cache' : 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
      ...(html && options.headers),
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  } catch {
    if (relative === options.page) {
      res
        .writeHead(503, { 'content-type': 'text/plain' })
        .end('The SmolDesk web apps are not built: run ./smoldesk setup')
      return
    }
    res.writeHead(404).end()
  }
}
