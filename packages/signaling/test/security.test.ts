import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { addressKey } from '../src/index.ts'
import { connectClient, type RunningSignaling, sleep, startSignaling } from './helpers.ts'

describe('signaling: who may join and talk', () => {
  let running: RunningSignaling
  let url: string

  before(async () => {
    running = await startSignaling({
      turn: { urls: ['turn:127.0.0.1:3478?transport=udp'], secret: 'turn-secret', ttlSeconds: 600 },
      limits: { backoff: { free: 3, baseMs: 400, maxMs: 2000 } },
    })
    url = running.url
  })
  after(() => running.close())

  it('relays only between the host and its admitted viewers: not across rooms, not viewer to viewer', async () => {
    const hostA = await connectClient(url)
    const hostB = await connectClient(url)
    await hostA.client.request({ type: 'create-room', roomId: 'iso-a' }, 'room-created')
    await hostB.client.request({ type: 'create-room', roomId: 'iso-b' }, 'room-created')
    const v1 = await connectClient(url)
    const v2 = await connectClient(url)
    const joined = await v1.client.request({ type: 'join-room', roomId: 'iso-a' }, 'room-joined')
    assert.equal(joined.role, 'viewer')
    await v2.client.request({ type: 'join-room', roomId: 'iso-a', role: 'view-only' }, 'room-joined')
    assert.equal((await hostA.box.next('peer-joined')).role, 'viewer')
    assert.equal((await hostA.box.next('peer-joined')).role, 'view-only')
    // Viewers are told of the host only, and cannot reach each other.
    assert.deepEqual(joined.peers, [hostA.client.clientId])
    await assert.rejects(
      v1.client.request({ type: 'offer', targetId: v2.client.clientId, sdp: 'x' }, 'offer'),
      {
        code: 'PEER_NOT_FOUND',
      },
    )
    // Room B's host cannot reach room A's viewer, nor room A's host.
    for (const target of [v1.client.clientId, hostA.client.clientId]) {
      await assert.rejects(hostB.client.request({ type: 'offer', targetId: target, sdp: 'x' }, 'offer'), {
        code: 'PEER_NOT_FOUND',
      })
    }
    // Only a host may kick or approve.
    await assert.rejects(v1.client.request({ type: 'kick', peerId: v2.client.clientId }, 'peer-left'), {
      code: 'FORBIDDEN',
    })
    assert.equal(v2.box.messages.filter((m) => m.type === 'offer').length, 0)
    await hostA.client.request({ type: 'kick', peerId: v2.client.clientId }, 'peer-left')
    const kicked = await v2.box.next('kicked')
    assert.equal(kicked.code, 'KICKED')
    await assert.rejects(
      v2.client.request({ type: 'answer', targetId: hostA.client.clientId, sdp: 'x' }, 'answer'),
      {
        code: 'PEER_NOT_FOUND',
      },
    )
    for (const c of [hostA, hostB, v1, v2]) c.client.close()
  })

  it('holds viewers until the host approves or denies, and hands the host their token', async () => {
    const host = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'approve-me', approval: true }, 'room-created')
    const asker = await connectClient(url)
    await asker.client.request({ type: 'join-room', roomId: 'approve-me', token: 'jwt.x.y' }, 'join-pending')
    const request = await host.box.next('join-request')
    assert.deepEqual(request, {
      type: 'join-request',
      peerId: asker.client.clientId,
      role: 'viewer',
      token: 'jwt.x.y',
    })
    // Pending viewers get nothing relayed, either way.
    await assert.rejects(
      host.client.request({ type: 'offer', targetId: asker.client.clientId, sdp: 'x' }, 'offer'),
      {
        code: 'PEER_NOT_FOUND',
      },
    )
    host.client.send({ type: 'approve-join', peerId: asker.client.clientId, role: 'view-only' })
    const joined = await asker.box.next('room-joined')
    assert.equal(joined.role, 'view-only')
    const peerJoined = await host.box.next('peer-joined')
    assert.equal(peerJoined.role, 'view-only')
    assert.equal(peerJoined.token, 'jwt.x.y')

    const denied = await connectClient(url)
    await denied.client.request({ type: 'join-room', roomId: 'approve-me' }, 'join-pending')
    host.client.send({ type: 'deny-join', peerId: (await host.box.next('join-request')).peerId })
    assert.equal((await denied.box.next('kicked')).code, 'JOIN_DENIED')
    for (const c of [host, asker, denied]) c.client.close()
  })

  it('refuses brute force with growing back-off, counts it, and lets the right password in afterwards', async () => {
    const host = await connectClient(url)
    await host.client.request(
      { type: 'create-room', roomId: 'vault', password: 'open sesame' },
      'room-created',
    )
    const thief = await connectClient(url)
    const codes: string[] = []
    for (let i = 0; i < 3; i++) {
      await thief.client
        .request({ type: 'join-room', roomId: 'vault', password: `guess-${i}` }, 'room-joined')
        .catch((err: { code: string }) => codes.push(err.code))
    }
    // The fourth try comes too soon: refused without even checking the password.
    const limited = thief.client.request(
      { type: 'join-room', roomId: 'vault', password: 'open sesame' },
      'room-joined',
    )
    await assert.rejects(limited, { code: 'RATE_LIMITED' })
    const error = thief.box.messages.findLast((m) => m.type === 'error')
    assert.ok(error?.type === 'error' && (error.retryAfterMs ?? 0) > 0, 'the refusal says when to retry')
    assert.deepEqual(codes, ['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED'])
    await sleep((error?.type === 'error' ? (error.retryAfterMs ?? 0) : 0) + 50)
    // Back-off doubles: a wrong guess now costs twice as long.
    await assert.rejects(
      thief.client.request({ type: 'join-room', roomId: 'vault', password: 'no' }, 'room-joined'),
      {
        code: 'UNAUTHORIZED',
      },
    )
    const next = thief.client.request(
      { type: 'join-room', roomId: 'vault', password: 'open sesame' },
      'room-joined',
    )
    await assert.rejects(next, { code: 'RATE_LIMITED' })
    const second = thief.box.messages.findLast((m) => m.type === 'error')
    assert.ok(second?.type === 'error' && (second.retryAfterMs ?? 0) > 450)
    await sleep((second?.type === 'error' ? (second.retryAfterMs ?? 0) : 0) + 50)
    await thief.client.request({ type: 'join-room', roomId: 'vault', password: 'open sesame' }, 'room-joined')
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text()
    assert.match(metrics, /smoldesk_signaling_auth_failures_total\{reason="password"\} 4/)
    assert.match(metrics, /smoldesk_signaling_rate_limited_total\{scope="auth"\} 2/)
    for (const c of [host, thief]) c.client.close()
  })

  it('rate-limits a flooding connection without hurting anyone else', async () => {
    const host = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'flooded' }, 'room-created')
    const viewer = await connectClient(url)
    await viewer.client.request({ type: 'join-room', roomId: 'flooded' }, 'room-joined')
    const flood = new WebSocket(url)
    const floodCodes: string[] = []
    flood.on('message', (d) => floodCodes.push(JSON.parse(String(d)).code ?? ''))
    await new Promise((resolve) => flood.once('open', resolve))
    for (let i = 0; i < 2000; i++) flood.send('{"type":"ping"}')
    await sleep(300)
    assert.ok(floodCodes.includes('RATE_LIMITED'))
    assert.ok(
      floodCodes.filter((c) => c === 'RATE_LIMITED').length <= 2,
      'told once a second, not once a message',
    )
    host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp: 'still works' })
    assert.equal((await viewer.box.next('offer')).sdp, 'still works')
    flood.close()
    host.client.close()
    viewer.client.close()
  })

  it('limits connections and messages per IP address, across all its connections', async () => {
    const strict = await startSignaling({
      limits: { connectionsPerIp: 3, ipMessagesPerSecond: 10, ipMessageBurst: 20 },
    })
    try {
      const open = await Promise.all([1, 2, 3].map(() => connectClient(strict.url)))
      const refused = await new Promise<number>((resolve) => {
        const ws = new WebSocket(strict.url)
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.once('open', () => resolve(101))
      })
      assert.equal(refused, 429, 'a fourth connection from the same address is refused')
      // Three connections sharing one address share its budget: 20 at once, then 10/s.
      for (let i = 0; i < 10; i++) for (const c of open) c.client.send({ type: 'ping' })
      await sleep(200)
      const pongs = open.reduce((n, c) => n + c.box.messages.filter((m) => m.type === 'pong').length, 0)
      assert.ok(pongs >= 20 && pongs <= 24, `${pongs} of 30 pings answered`)
      const metrics = await (await fetch(`${strict.httpUrl}/metrics`)).text()
      assert.match(metrics, /smoldesk_signaling_rate_limited_total\{scope="connections"\} 1/)
      for (const c of open) c.client.close()
    } finally {
      await strict.close()
    }
  })

  it('counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4', () => {
    assert.equal(addressKey('203.0.113.9'), '203.0.113.9')
    assert.equal(addressKey('::ffff:203.0.113.9'), '203.0.113.9')
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
    assert.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64')
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64')
    assert.equal(addressKey('::1'), '0:0:0:0::/64')
  })

  it('holds a room’s password against guesses spread over many addresses, and a success buys no more', async () => {
    const spread = await startSignaling({
      trustProxy: true,
      limits: { roomGuessesPerSecond: 2, roomGuessBurst: 4, backoff: { free: 3, baseMs: 5000, maxMs: 5000 } },
    })
    /** A connection that claims (through the trusted proxy header) to come from this address. */
    const from = (address: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(spread.url, { headers: { 'x-forwarded-for': address } })
        ws.once('message', () => resolve(ws)) // welcome
        ws.once('error', reject)
      })
    const answer = (ws: WebSocket, message: object) =>
      new Promise<{ type: string; code?: string }>((resolve) => {
        ws.once('message', (data) => resolve(JSON.parse(String(data))))
        ws.send(JSON.stringify(message))
      })
    try {
      const host = await connectClient(spread.url)
      await host.client.request(
        { type: 'create-room', roomId: 'spread', password: 'pw-right' },
        'room-created',
      )
      const codes: string[] = []
      const started = performance.now()
      for (let i = 0; i < 30; i++) {
        const ws = await from(`198.51.100.${i + 1}`)
        codes.push(
          (await answer(ws, { type: 'join-room', roomId: 'spread', password: `guess-${i}` })).code ?? '',
        )
        ws.close()
      }
      const seconds = (performance.now() - started) / 1000
      const checked = codes.filter((c) => c === 'UNAUTHORIZED').length
      assert.ok(checked <= 4 + Math.ceil(seconds * 2) + 1, `${checked} of 30 guesses checked in ${seconds} s`)
      assert.ok(codes.includes('RATE_LIMITED'))
      // An attacker's own room and its right password do not wipe its failures at the other:
      // two wrong guesses, a right one elsewhere, a third wrong one, and the back-off starts.
      await sleep(2100) // the room's budget refills
      const mine = await from('203.0.113.7')
      const owner = await connectClient(spread.url)
      await owner.client.request({ type: 'create-room', roomId: 'mine', password: 'mine' }, 'room-created')
      const tries: string[] = []
      const attempt = async (roomId: string, password: string) =>
        tries.push(
          (await answer(mine, { type: 'join-room', roomId, password })).type === 'room-joined' ? 'in' : 'out',
        )
      await attempt('spread', 'x1')
      await attempt('spread', 'x2')
      await attempt('mine', 'mine')
      await attempt('spread', 'x3')
      const limited = await answer(mine, { type: 'join-room', roomId: 'spread', password: 'x4' })
      assert.deepEqual(tries, ['out', 'out', 'in', 'out'])
      assert.equal(limited.code, 'RATE_LIMITED', 'three failures in all, whatever came between')
      mine.close()
      host.client.close()
      owner.client.close()
    } finally {
      await spread.close()
    }
  })

  it('hands each peer its own time-limited TURN credentials in coturn’s REST scheme', async () => {
    const host = await connectClient(url)
    const created = await host.client.request({ type: 'create-room', roomId: 'turn-room' }, 'room-created')
    const turn = created.iceServers.find((s) => s.username)
    assert.ok(turn)
    const [expiry, label] = (turn.username ?? '').split(':')
    assert.equal(label, host.client.clientId)
    const ttl = Number(expiry) - Date.now() / 1000
    assert.ok(ttl > 590 && ttl <= 600, `credentials live 600 s, got ${ttl}`)
    assert.equal(
      turn.credential,
      createHmac('sha1', 'turn-secret')
        .update(turn.username ?? '')
        .digest('base64'),
    )
    host.client.close()
  })
})
