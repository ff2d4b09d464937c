import type { Page } from 'playwright-core'
import { waitForPicture } from './bench-host.ts'

/*
 * The reference a viewer page's cost is measured against: the same stream
 * from the same host in a page that is nothing but a <video>. It
 * speaks just enough signaling to take the host's offer (join with the
 * link's token, answer, trade candidates, answer pings) and has no toolbar,
 * stats, cursor, input, data channels of its own or React. Whatever
 * SmolDesk's page costs beyond it is the page's own work.
 */

/** Page-side code as source: the bench is type-checked without the DOM library. */
const BARE_VIEWER = `async ({ roomId, token, signalingUrl }) => {
  document.head.innerHTML = ''
  document.body.innerHTML = ''
  document.body.style.cssText = 'margin:0;background:#000;overflow:hidden'
  const video = document.createElement('video')
  video.autoplay = true
  video.muted = true
  video.playsInline = true
  // At its own size, as a bare <video> tag shows it: no scaling (SmolDesk's page shows it 1:1 in
  // the bench's window too). Scaled to fill the window, the bare page cost 51 % against 40 %.
  video.style.display = 'block'
  document.body.append(video)
  const pc = new RTCPeerConnection()
  // Where the bench's counters look (SmolDesk's page exposes its connection the same way).
  window.smoldesk = { connection: { peerConnection: pc } }
  const ws = new WebSocket(signalingUrl)
  const send = (m) => ws.send(JSON.stringify(m))
  let hostId
  const early = []
  pc.ontrack = (e) => { video.srcObject = e.streams[0] ?? new MediaStream([e.track]) }
  pc.onicecandidate = (e) => {
    const candidate = e.candidate ? e.candidate.toJSON() : null
    if (hostId) send({ type: 'ice-candidate', targetId: hostId, candidate })
    else early.push(candidate)
  }
  // One message at a time: a candidate must not overtake the offer it belongs to.
  let queue = Promise.resolve()
  ws.onmessage = (ev) => { queue = queue.then(() => handle(JSON.parse(ev.data))).catch((err) => { window.__bareError = String(err) }) }
  async function handle(msg) {
    if (msg.type === 'welcome') send({ type: 'join-room', roomId, token })
    else if (msg.type === 'ping') send({ type: 'pong' })
    else if (msg.type === 'offer') {
      hostId = msg.fromId
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp })
      await pc.setLocalDescription(await pc.createAnswer())
      send({ type: 'answer', targetId: hostId, sdp: pc.localDescription.sdp })
      for (const c of early.splice(0)) send({ type: 'ice-candidate', targetId: hostId, candidate: c })
    } else if (msg.type === 'ice-candidate' && msg.candidate) await pc.addIceCandidate(msg.candidate)
    else if (msg.type === 'error') window.__bareError = msg.code + ': ' + msg.message
  }
}`

/**
 * Turns `page` into the bare reference viewer of the room the SmolDesk link
 * `viewerUrl` opens (the page leaves whatever it showed), and waits until
 * its <video> has a picture.
 */
export async function openBareViewer(page: Page, viewerUrl: string): Promise<void> {
  const url = new URL(viewerUrl)
  const roomId = url.searchParams.get('room') ?? ''
  const token = new URLSearchParams(url.hash.slice(1)).get('token') ?? undefined
  // A page of the same origin: the signaling server takes browsers' WebSockets from its own pages only.
  await page.goto(new URL('/health', url).href)
  const signalingUrl = `${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}/signal`
  await page.evaluate(`(${BARE_VIEWER})(${JSON.stringify({ roomId, token, signalingUrl })})`)
  await waitForPicture(page, 'the bare page’s picture').catch(async (err: unknown) => {
    const error = await page.evaluate('window.__bareError').catch(() => undefined)
    throw typeof error === 'string' ? new Error(`the bare viewer page: ${error}`) : err
  })
}
