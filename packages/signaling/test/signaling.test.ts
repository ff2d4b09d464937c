import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SignalingClient } from '@smoldesk/protocol'
import WebSocket from 'ws'
import { inbox, type RunningSignaling, startSignaling } from './helpers.ts'

describe('signaling server', () => {
  let running: RunningSignaling
  let url: string

  before(async () => {
    running = await startSignaling({ iceServers: () => [{ urls: 'stun:127.0.0.1:3478' }] })
    url = running.url
  })
  after(() => running.close())

  it('introduces peers in a room and relays offer, answer and candidates between them', async () => {
    const host = await SignalingClient.connect(url)
    const viewer = await SignalingClient.connect(url)
    const hostBox = inbox(host)
    const viewerBox = inbox(viewer)
    const created = await host.request({ type: 'create-room', roomId: 'room-a' }, 'room-created')
    assert.deepEqual(created.iceServers, [{ urls: 'stun:127.0.0.1:3478' }])
    const joined = await viewer.request({ type: 'join-room', roomId: 'room-a' }, 'room-joined')
    assert.deepEqual(joined.peers, [host.clientId])
    assert.equal((await hostBox.next('peer-joined')).peerId, viewer.clientId)
    host.send({ type: 'offer', targetId: viewer.clientId, sdp: 'v=0 offer' })
    assert.deepEqual(await viewerBox.next('offer'), {
      type: 'offer',
      fromId: host.clientId,
      sdp: 'v=0 offer',
      seq: ['local', 1], // numbered per sender, so a repeat can be recognised
    })
    viewer.send({ type: 'answer', targetId: host.clientId, sdp: 'v=0 answer' })
    assert.equal((await hostBox.next('answer')).sdp, 'v=0 answer')
    viewer.send({
      type: 'ice-candidate',
      targetId: host.clientId,
      candidate: { candidate: 'candidate:1', sdpMid: '0' },
    })
    const candidate = await hostBox.next('ice-candidate')
    assert.equal(candidate.candidate?.candidate, 'candidate:1')
    assert.deepEqual(candidate.seq, ['local', 2], 'the viewer’s second relay')
    viewer.close()
    assert.equal((await hostBox.next('peer-left')).peerId, viewer.clientId)
    host.close()
  })

  it('never relays across rooms, and checks room passwords', async () => {
    const a = await SignalingClient.connect(url)
    const b = await SignalingClient.connect(url)
    const aBox = inbox(a)
    await a.request({ type: 'create-room', roomId: 'room-secret', password: 'correct horse' }, 'room-created')
    await b.request({ type: 'create-room', roomId: 'room-other' }, 'room-created')
    await assert.rejects(b.request({ type: 'offer', targetId: a.clientId, sdp: 'x' }, 'offer'), {
      code: 'PEER_NOT_FOUND',
    })
    await assert.rejects(
      b.request({ type: 'join-room', roomId: 'room-secret', password: 'wrong' }, 'room-joined'),
      {
        code: 'UNAUTHORIZED',
      },
    )
    await assert.rejects(b.request({ type: 'join-room', roomId: 'room-secret' }, 'room-joined'), {
      code: 'UNAUTHORIZED',
    })
    await assert.rejects(b.request({ type: 'join-room', roomId: 'nope-nope' }, 'room-joined'), {
      code: 'ROOM_NOT_FOUND',
    })
    await assert.rejects(b.request({ type: 'create-room', roomId: 'room-secret' }, 'room-created'), {
      code: 'ROOM_EXISTS',
    })
    await b.request({ type: 'join-room', roomId: 'room-secret', password: 'correct horse' }, 'room-joined')
    await aBox.next('peer-joined')
    assert.equal(aBox.messages.filter((m) => m.type === 'offer').length, 0)
    a.close()
    b.close()
  })

  it('answers malformed messages with coded errors and closes only on oversized frames', async () => {
    const ws = new WebSocket(url)
    const received: { type: string; code?: string }[] = []
    ws.on('message', (d) => received.push(JSON.parse(String(d))))
    await new Promise((resolve) => ws.once('open', resolve))
    ws.send('{oops')
    ws.send(JSON.stringify({ type: 'teleport' }))
    ws.send(JSON.stringify({ type: 'offer', targetId: '../../x', sdp: 'x' }))
    ws.send(JSON.stringify({ type: 'ping' }))
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.deepEqual(
      received.map((m) => m.code ?? m.type),
      ['welcome', 'INVALID_JSON', 'INVALID_REQUEST', 'INVALID_REQUEST', 'pong'],
    )
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.send('x'.repeat(70 * 1024))
    assert.equal(await closed, 1009)
    const health = await fetch(`${url.replace('ws', 'http')}/health`)
    assert.equal(health.status, 200)
    assert.equal(((await health.json()) as { status: string }).status, 'ok')
  })
})
