import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { SignalingClient } from '@smoldesk/protocol'
import WebSocket from 'ws'
import { connectClient, type RunningSignaling, sleep, startSignaling } from './helpers.ts'

/** Ends a connection abnormally (code 4000), as a dropped network would: the server keeps the client's place. */
const DROPPED = 4000

/** A full garbage collection, for memory figures that mean something. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

async function waitFor(done: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not come within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** A TCP path to the server that can go dead both ways without closing (a network that dropped). */
class FreezingProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #frozen = false

  private constructor(server: Server) {
    this.#server = server
  }

  static async start(targetPort: string): Promise<FreezingProxy> {
    const { connect } = await import('node:net')
    const server = createServer()
    const proxy = new FreezingProxy(server)
    server.on('connection', (inbound) => {
      const outbound = connect(Number(targetPort), '127.0.0.1')
      for (const [from, to] of [
        [inbound, outbound],
        [outbound, inbound],
      ] as const) {
        proxy.#sockets.add(from)
        from.on('data', (data) => {
          if (!proxy.#frozen) to.write(data)
        })
        from.on('error', () => {})
        from.on('close', () => to.destroy())
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port
  }

  /** From now on nothing passes either way, and nothing is closed. */
  freeze(): void {
    this.#frozen = true
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy()
    this.#server.close()
  }
}

describe('signaling: heartbeats, resume, fuzz', () => {
  let running: RunningSignaling
  let url: string

  before(async () => {
    running = await startSignaling({
      heartbeatMs: 150,
      resumeGraceMs: 800,
      // The fuzzer's thousands of messages come from one address; the per-IP limit would hide the parser.
      limits: { ipMessagesPerSecond: 1e6, ipMessageBurst: 1e6, connectionsPerIp: 1000 },
    })
    url = running.url
  })
  after(() => running.close())

  it('drops a client that misses two heartbeats, and keeps one that answers', async () => {
    const silent = new WebSocket(url, { autoPong: false })
    const pings: string[] = []
    silent.on('message', (d) => pings.push(JSON.parse(String(d)).type))
    const closed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)))
    // Timed from the silent client's own opening: the other client's connecting may take a while.
    let started = Date.now()
    silent.once('open', () => {
      started = Date.now()
    })
    const alive = await SignalingClient.connect(url) // answers `ping` with `pong` by itself
    await closed
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 280 && elapsed < 1500, `dropped after ${elapsed} ms (2 missed pings at 150 ms)`)
    assert.ok(pings.filter((t) => t === 'ping').length >= 2)
    await sleep(300)
    assert.ok(alive.open, 'a client that answers pings stays')
    alive.close()
  })

  it('gives a dropped viewer its place back on resume, with the messages sent meanwhile', async () => {
    const host = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'resume-room' }, 'room-created')
    const viewer = await connectClient(url)
    await viewer.client.request({ type: 'join-room', roomId: 'resume-room' }, 'room-joined')
    await host.box.next('peer-joined')
    const oldId = viewer.client.clientId
    viewer.client.close(DROPPED)
    await sleep(100)
    // The host does not see the viewer leave, and what it sends now waits for the viewer.
    host.client.send({ type: 'offer', targetId: oldId, sdp: 'sent while away' })
    await sleep(100)
    const resumed = await SignalingClient.reconnect(url, viewer.client)
    assert.equal(resumed.clientId, oldId)
    assert.equal((await viewer.box.next('offer')).sdp, 'sent while away')
    resumed.send({ type: 'answer', targetId: host.client.clientId, sdp: 'back' })
    assert.equal((await host.box.next('answer')).fromId, oldId)
    assert.equal(host.box.messages.filter((m) => m.type === 'peer-left').length, 0)
    // A stolen or stale token resumes nothing.
    const thief = await SignalingClient.connect(url)
    // A heartbeat before the resume does not count as a first message (the client answers the
    // server's pings by itself, and on a loaded machine one can come first): the token decides.
    thief.send({ type: 'pong' })
    await assert.rejects(thief.request({ type: 'resume', clientId: oldId, token: 'guess' }, 'resumed'), {
      code: 'RESUME_FAILED',
    })
    thief.close()
    // Without resume the place is given up after the grace period.
    resumed.close(DROPPED)
    assert.equal((await host.box.next('peer-left', 3000)).peerId, oldId)
    host.client.close()
  })

  it('lets a resume replace a connection the server still thinks is open (half-open after a drop)', async () => {
    const host = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'half-open' }, 'room-created')
    const viewer = await connectClient(url)
    await viewer.client.request({ type: 'join-room', roomId: 'half-open' }, 'room-joined')
    await host.box.next('peer-joined')
    const oldClosed = new Promise<void>((resolve) => viewer.client.onClose(() => resolve()))
    // The old connection is still open here; the token alone proves who is back.
    const again = await SignalingClient.connect(url)
    const resumed = await again.request(
      { type: 'resume', clientId: viewer.client.clientId, token: viewer.client.resumeToken },
      'resumed',
    )
    assert.equal(resumed.roomId, 'half-open')
    await oldClosed
    host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp: 'to the new connection' })
    assert.equal((await again.request({ type: 'ping' }, 'offer')).sdp, 'to the new connection')
    assert.equal(host.box.messages.filter((m) => m.type === 'peer-left').length, 0)
    again.close()
    host.client.close()
  })

  it('sends again on resume what a half-open connection swallowed, each message once and in order', async () => {
    const proxy = await FreezingProxy.start(new URL(url).port)
    try {
      const host = await connectClient(url)
      await host.client.request({ type: 'create-room', roomId: 'swallowed' }, 'room-created')
      // The viewer reaches the server through a path that can go dead without closing.
      const viewer = await connectClient(`ws://127.0.0.1:${proxy.port}`)
      await viewer.client.request({ type: 'join-room', roomId: 'swallowed' }, 'room-joined')
      await host.box.next('peer-joined')
      const offers = () => viewer.box.messages.flatMap((m) => (m.type === 'offer' ? [m.sdp] : []))
      const sdps = Array.from({ length: 40 }, (_, i) => `offer ${i}`)
      for (const sdp of sdps.slice(0, 20))
        host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp })
      await waitFor(() => offers().length === 20, 'the first 20 offers')
      proxy.freeze()
      // Written into a connection the server still thinks is open (and then drops): never arrives.
      for (const sdp of sdps.slice(20))
        host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp })
      await sleep(50)
      assert.equal(offers().length, 20, 'nothing passes the dead path')
      const resumed = await SignalingClient.reconnect(url, viewer.client)
      await waitFor(() => offers().length >= 40, 'the 20 swallowed offers')
      await sleep(200)
      assert.deepEqual(offers(), sdps, 'every offer once, in order')
      resumed.close()
      host.client.close()
    } finally {
      proxy.close()
    }
  })

  it('survives 10,000 malformed, oversized and out-of-order messages while serving a session, memory back to baseline', async (t) => {
    const host = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'fuzz-room' }, 'room-created')
    const viewer = await connectClient(url)
    await viewer.client.request({ type: 'join-room', roomId: 'fuzz-room' }, 'room-joined')
    collectGarbage()
    const baseline = process.memoryUsage().heapUsed
    let seed = 42
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x7fffffff
    }
    const valid = [
      { type: 'offer', targetId: host.client.clientId, sdp: 'v=0' },
      { type: 'join-room', roomId: 'fuzz-room', password: 'x' },
      { type: 'create-room', roomId: 'fuzz-room' },
      { type: 'leave-room' },
      { type: 'approve-join', peerId: viewer.client.clientId },
      { type: 'kick', peerId: host.client.clientId },
      { type: 'resume', clientId: viewer.client.clientId, token: 'x' },
      { type: 'ice-candidate', targetId: 'nobody', candidate: { candidate: 'c' } },
    ]
    const mutate = (): string | Buffer => {
      const kind = Math.floor(random() * 6)
      const base = JSON.stringify(valid[Math.floor(random() * valid.length)])
      switch (kind) {
        case 0:
          return Buffer.from(
            Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)),
          )
        case 1:
          return base.slice(0, Math.floor(random() * base.length))
        case 2: {
          const i = Math.floor(random() * base.length)
          return base.slice(0, i) + String.fromCharCode(Math.floor(random() * 128)) + base.slice(i + 1)
        }
        case 3:
          return JSON.stringify({ type: 'offer', targetId: host.client.clientId, sdp: 'x'.repeat(61_000) })
        case 4:
          return `{"type":"ping","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`
        default:
          return base
      }
    }
    let sent = 0
    let connections = 0
    let oversized = 0
    while (sent < 10_000) {
      // Many short connections, each sending a batch, so per-connection limits do not hide the parser.
      const ws = new WebSocket(url)
      connections++
      await new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
      })
      for (let i = 0; i < 150 && sent < 10_000; i++, sent++) ws.send(mutate())
      if (random() < 0.2) {
        oversized++
        ws.send('x'.repeat(70 * 1024))
      }
      await new Promise((resolve) => {
        ws.once('close', resolve)
        ws.close()
      })
      if (connections % 10 === 0) {
        // The normal session keeps working throughout.
        host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp: `round ${connections}` })
        assert.equal((await viewer.box.next('offer')).sdp, `round ${connections}`)
      }
    }
    assert.equal(sent, 10_000)
    assert.ok(oversized > 0)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    // The server lets a connection go once its queued messages are handled: on a loaded machine
    // that can take longer than a fixed pause.
    for (let waited = 0; running.server.clientCount !== 2 && waited < 5000; waited += 50) await sleep(50)
    assert.equal(running.server.clientCount, 2, 'every fuzzing connection is gone')
    collectGarbage()
    const grown = (process.memoryUsage().heapUsed - baseline) / 1024 / 1024
    t.diagnostic(
      `heap after the fuzz: ${grown >= 0 ? '+' : ''}${grown.toFixed(2)} MB over ${connections} connections`,
    )
    assert.ok(grown < 20, `heap grew ${grown.toFixed(1)} MB`)
    host.client.close()
    viewer.client.close()
  })
})
