import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { IPC_SUBPROTOCOL, IPC_TOKEN_PREFIX } from '@smoldesk/protocol'

export type UpgradeVerdict = { ok: true } | { ok: false; status: 400 | 401 | 403; reason: string }

/** Comparing digests keeps the comparison constant-time whatever the length of the offered token. */
function sameToken(offered: string, expected: string): boolean {
  const a = createHash('sha256').update(offered).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * Decides whether a WebSocket upgrade may reach the IPC: the Origin (if the
 * client is a browser, it sends one) must be one of ours, and the per-launch
 * token must be offered as a subprotocol next to the IPC protocol name.
 */
export function checkUpgrade(
  req: IncomingMessage,
  token: string,
  allowedOrigins: ReadonlySet<string>,
): UpgradeVerdict {
  const origin = req.headers.origin
  if (origin !== undefined && !allowedOrigins.has(origin)) {
    return { ok: false, status: 403, reason: `origin ${origin} may not use the IPC` }
  }
  const offered = (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
  if (!offered.includes(IPC_SUBPROTOCOL)) {
    return { ok: false, status: 400, reason: `expected subprotocol ${IPC_SUBPROTOCOL}` }
  }
  const tokenOffer = offered.find((p) => p.startsWith(IPC_TOKEN_PREFIX))
  if (!tokenOffer || !sameToken(tokenOffer.slice(IPC_TOKEN_PREFIX.length), token)) {
    return { ok: false, status: 401, reason: 'missing or wrong IPC token' }
  }
  return { ok: true }
}
