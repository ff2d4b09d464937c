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
 * Whether a request was addressed to this port by one of its own names. A
 * page that got its name re-pointed at 127.0.0.1 (DNS rebinding) still
 * sends its own name in Host, so it is turned away before anything is served.
 */
export function hostAllowed(req: IncomingMessage, allowedHosts: ReadonlySet<string>): boolean {
  return allowedHosts.has((req.headers.host ?? '').toLowerCase())
}

/**
 * Decides whether a WebSocket upgrade may reach the IPC: the Host must be one
 * of this port's names, the Origin (if the
 * client is a browser, it sends one) must be one of ours, and the per-launch
 * token must be offered as a subprotocol next to the IPC protocol name.
 */
export function checkUpgrade(
  req: IncomingMessage,
  token: string,
  allowedOrigins: ReadonlySet<string>,
  allowedHosts: ReadonlySet<string>,
): UpgradeVerdict {
  if (!hostAllowed(req, allowedHosts)) {
    return { ok: false, status: 403, reason: `host ${req.headers.host ?? '(none)'} is not this IPC` }
  }
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
