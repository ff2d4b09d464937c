import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { ManagedProcess } from '../src/process/child.ts'
import { residentKb } from '../src/process/proc.ts'
import { LocalRedis } from './redis-server.ts'
import { percentile, round1 } from './stats.ts'

const SERVER_MAIN = resolve(import.meta.dirname, 'signaling-server-main.ts')

export interface SignalingRun {
  instances: 1 | 2
  peers: number
  /** Relay messages offered per second by the load generator. */
  offered_msgs_per_s: number
  relayed_msgs_per_s: number
  p50_ms: number
  p99_ms: number
  /** Server RSS growth per connected peer (in a room), summed over instances. */
  mem_per_peer_kb: number
  connect_s: number
  lost: number
}

export interface SignalingBenchResult {
  bench: 'signaling'
  runs: SignalingRun[]
}

interface Instance {
  url: string
  pid: number
  close: () => Promise<unknown>
}

async function startInstance(redisUrl: string | undefined): Promise<Instance> {
  const proc = await ManagedProcess.spawn({
    name: 'signaling bench server',
    command: process.execPath,
    args: [SERVER_MAIN, ...(redisUrl ? [redisUrl] : [])],
    env: { ...process.env, SMOLDESK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error('signaling bench server did not start')), 10_000)
    proc.child.stdout?.once('data', (d: Buffer) => {
      clearTimeout(timer)
      resolvePort(Number(String(d).trim()))
    })
  })
  return { url: `ws://127.0.0.1:${port}`, pid: proc.pid, close: () => proc.close() }
}

interface Peer {
  ws: WebSocket
  id: string
  /** Resolves the next message of a type. */
  next(type: string): Promise<Record<string, unknown>>
}

function openPeer(url: string, onRelay: (sentAt: number) => void): Promise<Peer> {
  return new Promise((resolvePeer, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const waiters = new Map<string, (m: Record<string, unknown>) => void>()
    let peer: Peer | undefined
    ws.on('message', (data) => {
      const text = String(data)
      // The hot path: relayed candidates carry their send time; no full parse needed.
      if (text.startsWith('{"type":"ice-candidate"')) {
        const at = /"candidate":"t(\d+\.?\d*)"/.exec(text)?.[1]
        if (at) onRelay(Number(at))
        return
      }
      const msg = JSON.parse(text) as Record<string, unknown>
      if (msg.type === 'ping') ws.send('{"type":"pong"}')
      if (msg.type === 'welcome' && !peer) {
        peer = {
          ws,
          id: String(msg.clientId),
          next: (type) => new Promise((r) => waiters.set(type, r)),
        }
        resolvePeer(peer)
        return
      }
      const waiter = waiters.get(String(msg.type))
      if (waiter) {
        waiters.delete(String(msg.type))
        waiter(msg)
      } else if (msg.type === 'error') {
        const pending = [...waiters.values()]
        waiters.clear()
        for (const w of pending) w(msg)
      }
    })
    ws.once('error', reject)
  })
}

/** Connects `pairs` rooms of two: hosts on the first instance, viewers on the last. */
async function connectRooms(
  instances: Instance[],
  pairs: number,
  onRelay: (sentAt: number) => void,
): Promise<{ hosts: Peer[]; viewers: Peer[] }> {
  const hosts: Peer[] = []
  const viewers: Peer[] = []
  const batch = 100
  for (let i = 0; i < pairs; i += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, pairs - i) }, async (_, j) => {
        const roomId = `bench-${i + j}`
        const host = await openPeer(instances[0]?.url ?? '', onRelay)
        const created = host.next('room-created')
        host.ws.send(JSON.stringify({ type: 'create-room', roomId }))
        const answer = await created
        if (answer.type !== 'room-created') throw new Error(`create-room: ${JSON.stringify(answer)}`)
        const viewer = await openPeer(instances.at(-1)?.url ?? '', onRelay)
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

async function runOnce(
  instanceCount: 1 | 2,
  peers: number,
  rate: number,
  seconds: number,
  log: (line: string) => void,
): Promise<SignalingRun> {
  const redis = instanceCount === 2 ? await LocalRedis.start() : undefined
  const instances: Instance[] = []
  try {
    for (let i = 0; i < instanceCount; i++) instances.push(await startInstance(redis?.url))
    const before = await Promise.all(instances.map((inst) => residentKb(inst.pid)))
    let measuring = false
    let received = 0
    const latencies: number[] = []
    const onRelay = (sentAt: number) => {
      if (!measuring) return
      received++
      // Every 4th sample keeps the array small at 20k/s; enough for p99.
      if (received % 4 === 0) latencies.push(performance.now() - sentAt)
    }
    const connectStart = performance.now()
    const { hosts, viewers } = await connectRooms(instances, peers / 2, onRelay)
    const connectS = (performance.now() - connectStart) / 1000
    await sleep(500)
    const after = await Promise.all(instances.map((inst) => residentKb(inst.pid)))
    const memPerPeerKb = after.reduce((sum, kb, i) => sum + kb - (before[i] ?? 0), 0) / peers
    log(`  ${instanceCount} instance(s): ${peers} peers in rooms of two after ${connectS.toFixed(1)} s`)

    // Relay phase: hosts send ICE candidates to their viewer, viewers back, paced in 5 ms ticks.
    const senders = [
      ...hosts.map((h, i) => [h, viewers[i]] as const),
      ...viewers.map((v, i) => [v, hosts[i]] as const),
    ]
    let sent = 0
    let cursor = 0
    measuring = true
    const started = performance.now()
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
      const wait = 5 - (performance.now() - tickStart)
      await sleep(Math.max(0, wait))
    }
    const elapsed = (performance.now() - started) / 1000
    await sleep(1000) // let the last messages arrive
    measuring = false
    const run: SignalingRun = {
      instances: instanceCount,
      peers,
      offered_msgs_per_s: Math.round(sent / elapsed),
      relayed_msgs_per_s: Math.round(received / elapsed),
      p50_ms: round1(percentile(latencies, 50)),
      p99_ms: round1(percentile(latencies, 99)),
      mem_per_peer_kb: round1(memPerPeerKb),
      connect_s: round1(connectS),
      lost: sent - received,
    }
    for (const p of [...hosts, ...viewers]) p.ws.terminate()
    return run
  } finally {
    for (const inst of instances) await inst.close()
    await redis?.close()
  }
}

/**
 * `smoldesk bench signaling`: peers in rooms of two on one instance, then on
 * two instances over Redis (hosts on one, viewers on the other, so every
 * relay crosses Redis); relayed messages per second at the offered rate,
 * p50/p99 relay latency (send → receive, same clock), memory per peer.
 */
export async function benchSignaling(options: {
  peers: number
  rate: number
  seconds: number
  log: (line: string) => void
}): Promise<SignalingBenchResult> {
  const runs: SignalingRun[] = []
  for (const instances of [1, 2] as const) {
    runs.push(await runOnce(instances, options.peers, options.rate, options.seconds, options.log))
  }
  return { bench: 'signaling', runs }
}
