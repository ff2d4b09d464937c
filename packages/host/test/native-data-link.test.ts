import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { loadNativeDataStack, NativeDataLink } from '../src/webrtc/native/native-data-link.ts'

const native = await loadNativeDataStack()

describe('native data link (libdatachannel)', () => {
  // Its threads would keep the test process alive; everything below closes what it opened first.
  after(() => new Promise<void>((resolve) => setImmediate(() => resolve(native?.cleanup()))))

  it('loads here: its prebuilt binary came from npm', () => {
    assert.ok(native, 'node-datachannel loads')
  })

  // The link carrying real files between the host and Chromium (50 MB each way, back-pressure,
  // resume, fuzz), its fallback to werift and its way through TURN are tested in
  // transfer-browser.test.ts and turn.test.ts. Two libdatachannel peers inside one test process
  // failed to connect in about 1 of 4 runs when two such processes ran at once, so that setup,
  // which is not how SmolDesk runs, is not used here.

  it('shrugs off a bad answer and bad candidates: the link stays down, nothing throws', () => {
    assert.ok(native)
    const sent: string[] = []
    const link = new NativeDataLink(native, {
      viewerId: 'v2',
      iceServers: [],
      send: (m) => sent.push(m.type),
      onChannel: () => {},
      onFailed: () => {},
    })
    try {
      link.handle({ type: 'candidate', candidate: 'candidate:early', mid: '0' }) // before the answer: held
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
