import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { SignalingClient, SmolDeskError } from '@smoldesk/protocol'
import WebSocket from 'ws'
import { connectClient, type RunningSignaling, sleep, startSignaling } from './helpers.ts'

/**
 * What a raw WebSocket gets before the server closes it: its messages and
 * close code. `onWelcome`: what it sends once let in.
 */
function refusedWith(
  url: string,
  onWelcome?: (ws: WebSocket) => void,
): Promise<{ messages: Record<string, unknown>[]; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    const messages: Record<string, unknown>[] = []
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Record<string, unknown>
      messages.push(msg)
      if (msg.type === 'welcome') onWelcome?.(ws)
    })
    ws.on('close', (code) => resolve({ messages, code }))
    ws.on('error', reject)
  })
}

/** Keeps this process's event loop busy for `ms`, in short turns, as a saturated server's is. */
async function saturate(ms: number): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) {
    const turn = performance.now() + 5
    while (performance.now() < turn) {}
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('signaling: past capacity, newcomers are turned away and rooms keep relaying', () => {
  let running: RunningSignaling | undefined
  afterEach(async () => {
    await running?.close()
    running = undefined
  })

  it('holds its maximum of clients: the next is told OVERLOADED in words, closed with 1013, and gets in once there is room', async () => {
    running = await startSignaling({ limits: { maxClients: 3 } })
    const { url } = running
    const host = await connectClient(url)
    const viewer = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'full' }, 'room-created')
    await viewer.client.request({ type: 'join-room', roomId: 'full' }, 'room-joined')
    const third = await connectClient(url)

    const refused = await refusedWith(url)
    assert.equal(refused.code, 1013)
    assert.equal(refused.messages.length, 1)
    assert.equal(refused.messages[0]?.type, 'error')
    assert.equal(refused.messages[0]?.code, 'OVERLOADED')
    assert.match(String(refused.messages[0]?.message), /maximum of 3 clients/)
    assert.ok(Number(refused.messages[0]?.retryAfterMs) > 0)
    // A client that will not wait gets the refusal as its error.
    await assert.rejects(SignalingClient.connect(url, 5000, 0), (err: unknown) => {
      assert.ok(err instanceof SmolDeskError)
      assert.equal(err.code, 'OVERLOADED')
      return true
    })

    // The room is untouched: an offer still goes through.
    host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp: 'v=0 full' })
    assert.equal((await viewer.box.next('offer')).sdp, 'v=0 full')

    // One that waits gets in when someone leaves.
    const waiting = SignalingClient.connect(url, 5000, 15_000)
    await sleep(300)
    third.client.close()
    const late = await waiting
    assert.ok(late.clientId)
    late.close()
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text()
    assert.match(metrics, /smoldesk_signaling_rate_limited_total\{scope="overload"\} [2-9]/)
    host.client.close()
    viewer.client.close()
  })

  it('turns newcomers away while its event loop is saturated, and lets them in once it has caught up', async () => {
    running = await startSignaling({ shedOnLoad: true })
    const { url } = running
    const host = await connectClient(url)
    const viewer = await connectClient(url)
    await host.client.request({ type: 'create-room', roomId: 'busy' }, 'room-created')
    await viewer.client.request({ type: 'join-room', roomId: 'busy' }, 'room-joined')

    const dropped = await connectClient(url)
    await dropped.client.request({ type: 'join-room', roomId: 'busy' }, 'room-joined')
    await host.box.next('peer-joined')

    // Longer than two of the gauge's half-second windows: one of them is all busy.
    await saturate(1300)
    const refused = await refusedWith(url)
    assert.equal(refused.code, 1013)
    assert.equal(refused.messages[0]?.code, 'OVERLOADED')
    assert.match(String(refused.messages[0]?.message), /overloaded/)
    // One that says it resumes but asks for anything else is turned away and closed (each check
    // right after a saturation: "busy" lasts about a second past it).
    await saturate(1300)
    const pretender = await refusedWith(`${url}/?resume=1`, (ws) =>
      ws.send(JSON.stringify({ type: 'create-room' })),
    )
    assert.equal(pretender.code, 1013)
    assert.deepEqual(
      pretender.messages.map((m) => m.type === 'error' && m.code),
      [false, 'OVERLOADED'],
    )
    // A member of an open room whose network dropped comes back all the same, and resumes.
    dropped.client.close(4000)
    await sleep(50)
    await saturate(1300)
    const back = await SignalingClient.reconnect(url, dropped.client)
    host.client.send({ type: 'offer', targetId: back.clientId, sdp: 'v=0 back' })
    assert.equal((await dropped.box.next('offer')).sdp, 'v=0 back')
    back.close()
    const health = (await (await fetch(`${running.httpUrl}/health`)).json()) as { loopUtilization: number }
    assert.equal(typeof health.loopUtilization, 'number')

    // The room relayed all along, and after the hold a newcomer gets in (connect waits it out).
    host.client.send({ type: 'offer', targetId: viewer.client.clientId, sdp: 'v=0 busy' })
    assert.equal((await viewer.box.next('offer')).sdp, 'v=0 busy')
    const late = await SignalingClient.connect(url, 5000, 15_000)
    assert.ok(late.clientId)
    late.close()
    host.client.close()
    viewer.client.close()
  })

  it('inside the host (no shedding by load), a busy loop turns nobody away', async () => {
    running = await startSignaling()
    await saturate(1300)
    const client = await SignalingClient.connect(running.url, 5000, 0)
    assert.ok(client.clientId)
    client.close()
  })
})
