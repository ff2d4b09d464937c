import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { type DataLinkMessage, FILES_CHANNEL } from '@smoldesk/protocol'
import { loadNativeDataStack, NativeDataLink } from '../src/webrtc/native/native-data-link.ts'
import type { PeerDataChannel } from '../src/webrtc/transport.ts'

const native = await loadNativeDataStack()

describe('native data link (libdatachannel)', () => {
  // Its threads would keep the test process alive; everything below closes what it opened first.
  after(() => new Promise<void>((resolve) => setImmediate(() => resolve(native?.cleanup()))))

  it('loads here: its prebuilt binary came from npm', () => {
    assert.ok(native, 'node-datachannel loads')
  })

  it('negotiates over data-link messages and moves 8 MiB with back-pressure, bytes equal', async () => {
    assert.ok(native)
    // The viewer's side, played by a second libdatachannel peer answering the host's offer.
    const viewer = new native.PeerConnection('viewer', { iceServers: [] })
    const toViewer: DataLinkMessage[] = []
    let host: NativeDataLink | undefined
    const opened = new Promise<PeerDataChannel>((resolve) => {
      host = new NativeDataLink(native, {
        viewerId: 'v1',
        iceServers: [],
        send: (message) => {
          toViewer.push(message)
          if (message.type === 'offer') viewer.setRemoteDescription(message.sdp, 'offer')
          else if (message.type === 'candidate') viewer.addRemoteCandidate(message.candidate, message.mid)
        },
        onChannel: resolve,
      })
    })
    viewer.onLocalDescription((sdp, type) => {
      if (type === 'answer') host?.handle({ type: 'answer', sdp })
    })
    viewer.onLocalCandidate((candidate, mid) => host?.handle({ type: 'candidate', candidate, mid }))
    const received: Buffer[] = []
    let label = ''
    let viewerChannel: { close(): void } | undefined
    const done = new Promise<void>((resolve) => {
      viewer.onDataChannel((dc) => {
        viewerChannel = dc
        label = dc.getLabel()
        let bytes = 0
        dc.onMessage((msg) => {
          const chunk = Buffer.from(msg as Buffer)
          received.push(chunk)
          bytes += chunk.length
          if (bytes === 8 * 1024 * 1024) resolve()
        })
      })
    })
    try {
      const files = await opened
      assert.equal(files.label, FILES_CHANNEL)
      assert.ok(toViewer.some((m) => m.type === 'offer'))
      const data = randomBytes(8 * 1024 * 1024)
      let waited = 0
      for (let at = 0; at < data.length; at += 64 * 1024) {
        files.send(data.subarray(at, at + 64 * 1024))
        if (files.bufferedAmount() > 1024 * 1024) {
          waited++
          await files.drained()
        }
      }
      await done
      assert.equal(label, FILES_CHANNEL)
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
      assert.equal(sha(Buffer.concat(received)), sha(data))
      assert.ok(waited > 0, 'the sender waited for the queue to drain')
    } finally {
      viewerChannel?.close()
      host?.close()
      viewer.close()
    }
  })

  it('shrugs off a bad answer and bad candidates: the link stays down, nothing throws', () => {
    assert.ok(native)
    const link = new NativeDataLink(native, {
      viewerId: 'v2',
      iceServers: [],
      send: () => {},
      onChannel: () => {},
    })
    try {
      link.handle({ type: 'answer', sdp: 'v=0 this is not an SDP' })
      link.handle({ type: 'candidate', candidate: 'candidate:garbage', mid: '0' })
      link.handle({ type: 'candidate', candidate: 'a'.repeat(1024), mid: 'x' })
      link.handle({ type: 'offer', sdp: 'the viewer never offers' })
    } finally {
      link.close()
    }
    link.handle({ type: 'answer', sdp: 'after close' })
  })
})
