import { CHANNEL_HIGH_WATER_BYTES, CHANNEL_LOW_WATER_BYTES } from '@smoldesk/protocol'
import type { Browser } from 'playwright-core'
import { SAME_MACHINE_MTU } from '../src/webrtc/native/link-mtu.ts'
import type { TransferRun } from './transfer-bench.ts'

type NodeDataChannelModule = typeof import('node-datachannel')

const MiB = 1024 * 1024
const CHUNK = 64 * 1024

/**
 * The reference for `bench transfer`: how fast the same two stacks move
 * bytes when nobody reads a file, hashes or stores anything. A bare
 * libdatachannel peer in this process and a bare RTCPeerConnection in a
 * blank Chromium page, 64 KiB messages with the same back-pressure as the
 * files channel, the same packet size as SmolDesk's data link to a viewer
 * on this machine. SmolDesk's figure can only approach this one.
 */
export async function channelCeiling(
  native: NodeDataChannelModule,
  browser: Browser,
  mb: number,
  direction: TransferRun['direction'],
): Promise<number> {
  const total = mb * MiB
  const page = await browser.newPage()
  const pc = new native.PeerConnection('bench-ceiling', {
    iceServers: [],
    maxMessageSize: 256 * 1024,
    mtu: SAME_MACHINE_MTU,
  })
  let dc: ReturnType<typeof pc.createDataChannel> | undefined
  try {
    const candidates: string[] = []
    pc.onLocalCandidate((candidate) => candidates.push(candidate))
    const offer = new Promise<string>((resolve) =>
      pc.onLocalDescription((sdp, type) => type === 'offer' && resolve(sdp)),
    )
    const channel = pc.createDataChannel('ceiling')
    dc = channel
    const opened = new Promise<void>((resolve) => channel.onOpen(() => resolve()))
    const answer = String(
      await page.evaluate(`(async () => {
        const pc = new RTCPeerConnection()
        window.__pc = pc
        pc.ondatachannel = (e) => { window.__dc = e.channel; e.channel.binaryType = 'arraybuffer' }
        await pc.setRemoteDescription({ type: 'offer', sdp: ${JSON.stringify(await offer)} })
        await pc.setLocalDescription()
        return pc.localDescription.sdp
      })()`),
    )
    pc.setRemoteDescription(answer, 'answer')
    // Our candidates after the answer (see NativeDataLink); the page's come as prflx.
    await new Promise((resolve) => setTimeout(resolve, 200))
    await page.evaluate(
      `Promise.all(${JSON.stringify(candidates)}.map((c) => window.__pc.addIceCandidate({ candidate: c, sdpMid: '0' }).catch(() => {})))`,
    )
    await opened
    await page.waitForFunction(`window.__dc?.readyState === 'open'`)
    if (direction === 'host-to-viewer') {
      // The page listens before the first byte leaves (a message without a listener is lost).
      await page.evaluate(`window.__received = new Promise((resolve) => {
        let n = 0, t0 = 0
        window.__dc.onmessage = (m) => {
          if (!t0) t0 = performance.now()
          n += m.data.byteLength
          if (n >= ${total}) resolve(performance.now() - t0)
        }
      }); undefined`)
      const chunk = Buffer.alloc(CHUNK)
      channel.setBufferedAmountLowThreshold(CHANNEL_LOW_WATER_BYTES)
      let wake: (() => void) | undefined
      channel.onBufferedAmountLow(() => wake?.())
      for (let sent = 0; sent < total; sent += CHUNK) {
        if (channel.bufferedAmount() > CHANNEL_HIGH_WATER_BYTES)
          await new Promise<void>((resolve) => {
            wake = resolve
          })
        channel.sendMessageBinary(chunk)
      }
      return total / 1e6 / (Number(await page.evaluate('window.__received')) / 1000)
    }
    let n = 0
    let t0 = 0
    const received = new Promise<number>((resolve) =>
      channel.onMessage((m) => {
        if (!t0) t0 = performance.now()
        n += typeof m === 'string' ? m.length : m.byteLength
        if (n >= total) resolve(performance.now() - t0)
      }),
    )
    await page.evaluate(`(async () => {
      const dc = window.__dc
      dc.bufferedAmountLowThreshold = ${CHANNEL_LOW_WATER_BYTES}
      const chunk = new Uint8Array(${CHUNK})
      for (let sent = 0; sent < ${total}; sent += chunk.length) {
        if (dc.bufferedAmount > ${CHANNEL_HIGH_WATER_BYTES}) await new Promise((r) => { dc.onbufferedamountlow = r })
        dc.send(chunk)
      }
    })()`)
    return total / 1e6 / ((await received) / 1000)
  } finally {
    // Channel first: an open native channel keeps its thread (and the process) alive.
    dc?.close()
    pc.close()
    await page.close()
  }
}
