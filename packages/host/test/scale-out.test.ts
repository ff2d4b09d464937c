import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SignalingClient } from '@smoldesk/protocol'
import { connectRedis } from '@smoldesk/signaling/redis'
import { Redis } from 'ioredis'
import { LocalRedis } from '../bench/redis-server.ts'
import { WebServer } from '../src/web/web-server.ts'
import { waitForColour } from './browser.ts'
import { eventually, type HostProcess } from './helpers.ts'
import { openScene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'

const PURPLE: Rgb = [140, 40, 200]

/** Waits for `smoldesk host` to print its room and viewer token, then starts sharing its first monitor. */
async function shareFirstMonitor(host: HostProcess) {
  await eventually(async () => assert.match(host.stdout(), /Viewer token: \S+/), 15_000)
  const room = /Room: (\S+)/.exec(host.stdout())?.[1]
  const token = /Viewer token: (\S+)/.exec(host.stdout())?.[1]
  const client = await host.client()
  await client.invoke('start_capture', { monitorIndex: 0, config: { fps: 30 } })
  return { room, token, client }
}

/** A signaling instance sharing rooms through Redis, as `smoldesk signaling --redis URL` runs it. */
async function instance(redisUrl: string): Promise<WebServer> {
  const { store, bus } = await connectRedis(redisUrl)
  return WebServer.start({ host: '127.0.0.1', port: 0, signaling: { store, bus, resumeGraceMs: 1500 } })
}

describe('scale-out: two signaling instances over a real redis-server', () => {
  let redis: LocalRedis
  let a: WebServer
  let b: WebServer

  before(async () => {
    redis = await LocalRedis.start()
    a = await instance(redis.url)
    b = await instance(redis.url)
  })

  after(async () => {
    await a?.close()
    await b?.close()
    await redis?.close()
  })

  it('relays between a host on instance A and a viewer on instance B, and keeps rooms apart', async () => {
    const host = await SignalingClient.connect(a.signalingUrl)
    const viewer = await SignalingClient.connect(b.signalingUrl)
    const other = await SignalingClient.connect(b.signalingUrl)
    await host.request({ type: 'create-room', roomId: 'redis-room', password: 'pw' }, 'room-created')
    await other.request({ type: 'create-room', roomId: 'redis-other' }, 'room-created')
    // The room made on A exists for B, password and all.
    await assert.rejects(
      viewer.request({ type: 'join-room', roomId: 'redis-room', password: 'x' }, 'room-joined'),
      {
        code: 'UNAUTHORIZED',
      },
    )
    await assert.rejects(other.request({ type: 'create-room', roomId: 'redis-room' }, 'room-created'), {
      code: 'ROOM_EXISTS',
    })
    const joined = host.request({ type: 'ping' }, 'peer-joined')
    await viewer.request({ type: 'join-room', roomId: 'redis-room', password: 'pw' }, 'room-joined')
    assert.equal((await joined).peerId, viewer.clientId)
    const offer = viewer.request({ type: 'ping' }, 'offer')
    host.send({ type: 'offer', targetId: viewer.clientId, sdp: 'across instances' })
    assert.equal((await offer).sdp, 'across instances')
    const candidates: string[] = []
    host.onMessage((m) => {
      if (m.type === 'ice-candidate' && m.candidate) candidates.push(m.candidate.candidate)
    })
    for (let i = 0; i < 20; i++) {
      viewer.send({ type: 'ice-candidate', targetId: host.clientId, candidate: { candidate: `c${i}` } })
    }
    await eventually(async () => assert.equal(candidates.length, 20))
    assert.deepEqual(
      candidates,
      Array.from({ length: 20 }, (_, i) => `c${i}`),
      'order kept across instances',
    )
    // Another room's host, on the viewer's own instance, cannot reach it.
    await assert.rejects(other.request({ type: 'offer', targetId: viewer.clientId, sdp: 'x' }, 'offer'), {
      code: 'PEER_NOT_FOUND',
    })
    // A viewer that drops from B resumes on A, and gets what was sent meanwhile.
    viewer.close(4000)
    await new Promise((resolve) => setTimeout(resolve, 150))
    host.send({ type: 'offer', targetId: viewer.clientId, sdp: 'while away' })
    await new Promise((resolve) => setTimeout(resolve, 150))
    const seen: string[] = []
    viewer.onMessage((m) => {
      if (m.type === 'offer') seen.push(m.sdp)
    })
    const resumed = await SignalingClient.reconnect(a.signalingUrl, viewer)
    assert.equal(resumed.clientId, viewer.clientId)
    await eventually(async () => assert.deepEqual(seen, ['while away']))
    for (const c of [host, resumed, other]) c.close()
    // Everything the room left in Redis is gone once its members left.
    await eventually(async () => {
      const check = new Redis(redis.url)
      try {
        assert.deepEqual(await check.keys('smoldesk:room:redis-room'), [])
        assert.deepEqual(await check.keys('smoldesk:members:redis-room'), [])
      } finally {
        check.disconnect()
      }
    })
  })

  it('streams video from a host on instance A to Chromium on instance B', async () => {
    const scene = await openScene({
      monitors: [{ width: 640, height: 480 }],
      colours: [PURPLE],
      command: 'host',
      hostArgs: ['--signaling', a.signalingUrl],
      playwright: true,
    })
    const { host, playwright: browser } = scene
    try {
      const { room, token, client } = await shareFirstMonitor(host)
      client.close()
      const page = await browser.newPage()
      await page.goto(`${b.baseUrl}/?room=${room}#token=${token}`)
      await waitForColour(page, PURPLE, 20_000)
      await page.close()
    } finally {
      await scene.close()
    }
  })
})

/** A TCP hop whose connections can be cut, the way a network drop cuts them (no close frames). */
async function cuttableProxy(
  target: number,
): Promise<{ port: number; cut: () => void; close: () => Promise<void> }> {
  const { createServer, connect } = await import('node:net')
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as import('node:net').AddressInfo).port
  return {
    port,
    cut: () => {
      for (const s of sockets) s.destroy()
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

describe('signaling drops: host and viewer resume, the stream never stops', () => {
  it('keeps the video playing through a cut, and lets new viewers join afterwards', async () => {
    const web = await WebServer.start({ host: '127.0.0.1', port: 0 })
    const proxy = await cuttableProxy(web.port)
    const scene = await openScene({
      monitors: [{ width: 640, height: 480 }],
      colours: [PURPLE],
      command: 'host',
      hostArgs: ['--signaling', `ws://127.0.0.1:${proxy.port}/signal`],
      playwright: true,
    })
    const { host, painter, playwright: browser } = scene
    try {
      const { room, token, client } = await shareFirstMonitor(host)
      const link = `http://127.0.0.1:${proxy.port}/?room=${room}#token=${token}`
      const page = await browser.newPage()
      await page.goto(link)
      await waitForColour(page, PURPLE, 20_000)
      proxy.cut()
      // Media is peer to peer: it goes on while signaling is away, and both sides resume.
      const YELLOW: Rgb = [230, 210, 40]
      await painter.fill({ x: 0, y: 0, width: 640, height: 480 }, YELLOW)
      await waitForColour(page, YELLOW, 5000)
      await eventually(async () => {
        const health = (await (await fetch(`${web.baseUrl}/health`)).json()) as { clients: number }
        assert.equal(health.clients, 2, 'host and viewer reconnected')
      }, 10_000)
      assert.equal(await page.evaluate('window.smoldesk.connection.peerConnectionsCreated'), 1)
      // The host has its room back: a new viewer joins and sees the picture.
      const second = await browser.newPage()
      await second.goto(link)
      await waitForColour(second, YELLOW, 15_000)
      client.close()
    } finally {
      await scene.close()
      await proxy.close()
      await web.close()
    }
  })
})
