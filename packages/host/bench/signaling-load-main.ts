/*
 * One load generator of `smoldesk bench signaling`, in a process of its own
 * so the generators and the server under test do not share an event loop
 * (and the benchmark can say how much of the machine the generators took).
 *
 *   node signaling-load-main.ts HOST_URL VIEWER_URL PAIRS RATE SECONDS PREFIX
 *
 * Connects PAIRS rooms of two (hosts to HOST_URL, viewers to VIEWER_URL),
 * prints `ready`, waits for `go` on stdin, relays ICE candidates both ways
 * at RATE messages/s for SECONDS, waits until every relay is delivered or
 * refused (at most 20 s), and prints one JSON line: sent, received, errored
 * and latency samples (ms).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'

export interface LoadResult {
  sent: number
  received: number
  /** `error` messages the server answered relays with (a coded refusal, never silence). */
  errored: number
  /** The refusals by code (RATE_LIMITED, OVERLOADED, TARGET_GONE, …). */
  error_codes: Record<string, number>
  /** Every 4th relay's send → receive time (same process, same clock). */
  latencies: number[]
  /** The same, for relays sent after the first two seconds (caches warm, connections settled). */
  warm_latencies: number[]
  /** This generator's CPU time over the relay phase, ms (user + system). */
  cpu_ms: number
  /** Connection attempts the server turned away (OVERLOADED) while the rooms were made; each was tried again. */
  turned_away: number
  /** How long after the window the last relays took to be accounted for. */
  drain_ms: number
}

interface Peer {
  ws: WebSocket
  id: string
  /** Resolves the next message of a type. */
  next(type: string): Promise<Record<string, unknown>>
}

const [hostUrl, viewerUrl, pairsArg, rateArg, secondsArg, prefix] = process.argv.slice(2)
const pairs = Number(pairsArg)
const rate = Number(rateArg)
const seconds = Number(secondsArg)

/** The longest wait after the window for the last relays (the server gives one up after 15 s). */
const DRAIN_MAX_MS = 20_000

let measuring = false
let received = 0
let errored = 0
const errorCodes: Record<string, number> = {}
const latencies: number[] = []
const warmLatencies: number[] = []
/** Relays sent from then on count as warm (see warm_latencies). */
let warmFrom = Number.POSITIVE_INFINITY

/** Connections the server turned away (OVERLOADED) before letting them in on a later try. */
let turnedAway = 0

/** Opens a peer, trying again (as SignalingClient.connect does) while the server turns connections away. */
async function openPeer(url: string): Promise<Peer> {
  for (;;) {
    const peer = await tryPeer(url)
    if (!('retryAfterMs' in peer)) return peer
    turnedAway++
    await sleep(peer.retryAfterMs * (1 + Math.random()))
  }
}

function tryPeer(url: string): Promise<Peer | { retryAfterMs: number }> {
  return new Promise((resolvePeer, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const waiters = new Map<string, (m: Record<string, unknown>) => void>()
    let peer: Peer | undefined
    ws.on('message', (data) => {
      const text = String(data)
      // The hot path: relayed candidates carry their send time; no full parse needed.
      if (text.startsWith('{"type":"ice-candidate"')) {
        const at = /"candidate":"t(\d+\.?\d*)"/.exec(text)?.[1]
        if (at && measuring) {
          received++
          // Every 4th sample keeps the array small at 20k/s; enough for p99.
          if (received % 4 === 0) {
            const latency = performance.now() - Number(at)
            latencies.push(latency)
            if (Number(at) >= warmFrom) warmLatencies.push(latency)
          }
        }
        return
      }
      const msg = JSON.parse(text) as Record<string, unknown>
      if (msg.type === 'ping') ws.send('{"type":"pong"}')
      if (msg.type === 'error' && !peer) {
        resolvePeer({ retryAfterMs: Number(msg.retryAfterMs ?? 1000) })
        return
      }
      if (msg.type === 'welcome' && !peer) {
        peer = { ws, id: String(msg.clientId), next: (type) => new Promise((r) => waiters.set(type, r)) }
        resolvePeer(peer)
        return
      }
      const waiter = waiters.get(String(msg.type))
      if (waiter) {
        waiters.delete(String(msg.type))
        waiter(msg)
      } else if (msg.type === 'error') {
        if (measuring) {
          errored++
          const code = String(msg.code)
          errorCodes[code] = (errorCodes[code] ?? 0) + 1
        }
        const pending = [...waiters.values()]
        waiters.clear()
        for (const w of pending) w(msg)
      }
    })
    ws.once('error', reject)
  })
}

async function connectRooms(): Promise<{ hosts: Peer[]; viewers: Peer[] }> {
  const hosts: Peer[] = []
  const viewers: Peer[] = []
  const batch = 100
  for (let i = 0; i < pairs; i += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, pairs - i) }, async (_, j) => {
        const roomId = `${prefix}-${i + j}`
        const host = await openPeer(hostUrl ?? '')
        const created = host.next('room-created')
        host.ws.send(JSON.stringify({ type: 'create-room', roomId }))
        const answer = await created
        if (answer.type !== 'room-created') throw new Error(`create-room: ${JSON.stringify(answer)}`)
        const viewer = await openPeer(viewerUrl ?? '')
        const joined = viewer.next('room-joined')
        viewer.ws.send(JSON.stringify({ type: 'join-room', roomId }))
        const reply = await joined
        if (reply.type !== 'room-joined') throw new Error(`join-room: ${JSON.stringify(reply)}`)
        return [host, viewer] as const
      }),
    )
    for (const [h, v] of made) {
      hosts.push(h)
      viewers.push(v)
    }
  }
  return { hosts, viewers }
}

const { hosts, viewers } = await connectRooms()
process.stdout.write('ready\n')
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))

// Hosts send ICE candidates to their viewer, viewers back, paced by the clock in 5 ms ticks.
const senders = [
  ...hosts.map((h, i) => [h, viewers[i]] as const),
  ...viewers.map((v, i) => [v, hosts[i]] as const),
]
let sent = 0
let cursor = 0
measuring = true
const cpuBefore = process.cpuUsage()
const started = performance.now()
warmFrom = started + 2000
while (performance.now() - started < seconds * 1000) {
  const tickStart = performance.now()
  const now = performance.now()
  // Paced by the clock, not by tick count: timers fire late under load.
  const due = Math.floor((rate * (now - started)) / 1000)
  while (sent < due) {
    const [from, to] = senders[cursor % senders.length] ?? []
    cursor++
    sent++
    if (!from || !to) continue
    from.ws.send(
      `{"type":"ice-candidate","targetId":"${to.id}","candidate":{"candidate":"t${now.toFixed(3)}","sdpMid":"0"}}`,
    )
  }
  await sleep(Math.max(0, 5 - (performance.now() - tickStart)))
}
// Then until every relay is accounted for (delivered, or refused with a code), as long as the
// server may take to give one up (15 s) and a little: what is still missing then is lost.
const drainUntil = performance.now() + DRAIN_MAX_MS
while (received + errored < sent && performance.now() < drainUntil) await sleep(20)
const drainMs = performance.now() - started - seconds * 1000
measuring = false
const cpu = process.cpuUsage(cpuBefore)
const result: LoadResult = {
  sent,
  received,
  errored,
  error_codes: errorCodes,
  latencies,
  warm_latencies: warmLatencies,
  cpu_ms: (cpu.user + cpu.system) / 1000,
  turned_away: turnedAway,
  drain_ms: Math.round(drainMs),
}
process.stdout.write(`${JSON.stringify(result)}\n`, () => {
  for (const p of [...hosts, ...viewers]) p.ws.terminate()
  process.exit(0)
})
