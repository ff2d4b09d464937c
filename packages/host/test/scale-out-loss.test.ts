import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type ServerMessage, SignalingClient } from '@smoldesk/protocol'
import { connectRedis } from '@smoldesk/signaling/redis'
import { LocalRedis } from '../bench/redis-server.ts'
import { type Instance, startInstance } from '../bench/signaling-bench.ts'
import { WebServer } from '../src/web/web-server.ts'
import { eventually } from './helpers.ts'

/** Limits out of the way: this is about what the relay loses, not what it refuses to take. */
const OPEN_LIMITS = {
  messagesPerSecond: 1e5,
  messageBurst: 1e5,
  ipMessagesPerSecond: 1e6,
  ipMessageBurst: 1e6,
  connectionsPerIp: 1000,
}

async function instance(redisUrl: string): Promise<WebServer> {
  const { store, bus } = await connectRedis(redisUrl)
  return WebServer.start({ host: '127.0.0.1', port: 0, signaling: { store, bus, limits: OPEN_LIMITS } })
}

/** A host on one instance sending numbered candidates to its viewer on the other, and what came of each. */
interface Pair {
  host: SignalingClient
  viewer: SignalingClient
  received: number[]
  errored: { code: string; refused?: string }[]
  sent: number
}

async function pair(room: string, hostAt: string, viewerAt: string): Promise<Pair> {
  const host = await SignalingClient.connect(hostAt)
  const viewer = await SignalingClient.connect(viewerAt)
  await host.request({ type: 'create-room', roomId: room }, 'room-created')
  const joined = host.request({ type: 'ping' }, 'peer-joined')
  await viewer.request({ type: 'join-room', roomId: room }, 'room-joined')
  await joined
  const p: Pair = { host, viewer, received: [], errored: [], sent: 0 }
  viewer.onMessage((m: ServerMessage) => {
    if (m.type === 'ice-candidate' && m.candidate) p.received.push(Number(m.candidate.candidate))
  })
  host.onMessage((m: ServerMessage) => {
    if (m.type === 'error' && m.targetId === viewer.clientId)
      p.errored.push({ code: m.code, ...(m.refused && { refused: m.refused }) })
  })
  return p
}

/** Each host sends `perPair` numbered candidates to its viewer, about 1,000 a second. */
function sendAll(pairs: Pair[], perPair: number): Promise<unknown> {
  return Promise.all(
    pairs.map(async (p) => {
      for (let n = 1; n <= perPair; n++) {
        p.host.send({
          type: 'ice-candidate',
          targetId: p.viewer.clientId,
          candidate: { candidate: String(n) },
        })
        p.sent++
        if (n % 20 === 0) await new Promise((r) => setTimeout(r, 20))
      }
    }),
  )
}

/** Each message is either received once, in order, or its sender was told; never both, never neither. */
function account(pairs: Pair[]): { sent: number; delivered: number; errored: number; codes: string[] } {
  let delivered = 0
  let errored = 0
  const codes = new Set<string>()
  for (const p of pairs) {
    for (let i = 1; i < p.received.length; i++) {
      assert.ok(
        (p.received[i] ?? 0) > (p.received[i - 1] ?? 0),
        `in order, once: ${p.received.slice(i - 1, i + 1)}`,
      )
    }
    assert.equal(p.received.length + p.errored.length, p.sent, 'every message accounted for')
    delivered += p.received.length
    errored += p.errored.length
    for (const e of p.errored) codes.add(e.code)
  }
  return { sent: pairs.reduce((n, p) => n + p.sent, 0), delivered, errored, codes: [...codes] }
}

describe('scale-out: nothing accepted is lost across a Redis restart', () => {
  let dataDir: string
  let redis: LocalRedis
  let a: WebServer
  let b: WebServer

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'smoldesk-redis-'))
    redis = await LocalRedis.start({ dataDir })
    a = await instance(redis.url)
    b = await instance(redis.url)
  })
  after(async () => {
    await a?.close()
    await b?.close()
    await redis?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('relays 6,000 messages between two instances while redis-server is killed and started again', async () => {
    const pairs = [
      ...(await Promise.all(
        Array.from({ length: 5 }, (_, i) => pair(`ab-${i}`, a.signalingUrl, b.signalingUrl)),
      )),
      ...(await Promise.all(
        Array.from({ length: 5 }, (_, i) => pair(`ba-${i}`, b.signalingUrl, a.signalingUrl)),
      )),
    ]
    const sending = sendAll(pairs, 600)
    await new Promise((r) => setTimeout(r, 250))
    await redis.kill()
    const killedAt = performance.now()
    await new Promise((r) => setTimeout(r, 1500))
    await redis.restart()
    const downMs = performance.now() - killedAt
    await sending
    const settled = await eventually(async () => {
      const tally = account(pairs)
      assert.equal(tally.delivered + tally.errored, tally.sent)
      return tally
    }, 30_000)
    console.log(
      `redis down ${downMs.toFixed(0)} ms: ${settled.sent} sent, ${settled.delivered} delivered once and in order, ${settled.errored} errored to their senders (${settled.codes.join(', ') || 'none'}), 0 lost`,
    )
    assert.ok(settled.delivered > settled.sent / 2, 'most got through')
    // Afterwards the relay works as before, both ways.
    const check = pairs[0] as Pair
    const before = check.received.length
    check.host.send({
      type: 'ice-candidate',
      targetId: check.viewer.clientId,
      candidate: { candidate: '100000' },
    })
    await eventually(async () => assert.equal(check.received.length, before + 1), 10_000)
    for (const p of pairs) {
      p.host.close()
      p.viewer.close()
    }
  })
})

describe('scale-out: nothing accepted is lost when an instance dies', () => {
  let redis: LocalRedis
  let a: WebServer
  let b: Instance

  before(async () => {
    redis = await LocalRedis.start()
    a = await instance(redis.url)
    b = await startInstance(redis.url)
  })
  after(async () => {
    await a?.close()
    await b?.close()
    await redis?.close()
  })

  it('relays 6,000 messages from hosts on A to viewers on B while B is killed; the viewers resume on A', async () => {
    const pairs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => pair(`kill-${i}`, a.signalingUrl, b.url)),
    )
    // What a load balancer does when an instance dies: the viewers come back on the one that is left.
    let restarted = 0
    const resumedAt: number[] = []
    for (const p of pairs) {
      p.viewer.onClose(async () => {
        const back = await SignalingClient.recover(a.signalingUrl, p.viewer, {
          cancelled: () => false,
          restart: async () => {
            restarted++ // a new session: the old one (and what was queued for it) would be gone
          },
          delaysMs: [100, 250, 500, 500, 500, 1000, 1000, 1000, 2000, 2000],
        })
        if (back) {
          p.viewer = back
          resumedAt.push(performance.now())
        }
      })
    }
    const sending = sendAll(pairs, 600)
    await new Promise((r) => setTimeout(r, 250))
    b.kill()
    const killedAt = performance.now()
    await sending
    const settled = await eventually(async () => {
      const tally = account(pairs)
      assert.equal(tally.delivered + tally.errored, tally.sent)
      return tally
    }, 30_000)
    assert.equal(restarted, 0, 'every viewer resumed its own session')
    assert.equal(resumedAt.length, pairs.length)
    const slowest = Math.max(...resumedAt) - killedAt
    console.log(
      `instance killed: viewers resumed on the other within ${slowest.toFixed(0)} ms; ${settled.sent} sent, ${settled.delivered} delivered once and in order, ${settled.errored} errored to their senders (${settled.codes.join(', ') || 'none'}), 0 lost`,
    )
    assert.equal(settled.errored, 0, 'every viewer came back, so everything was delivered')
    for (const p of pairs) {
      p.host.close()
      p.viewer.close()
    }
  })
})
