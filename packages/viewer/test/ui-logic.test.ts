import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type ErrorCode, SmolDeskError } from '@smoldesk/protocol'
import { adviceFor, statusLine } from '../src/advice.ts'
import { parseRoomInput } from '../src/room-link.ts'
import { missingBrowserFeatures } from '../src/session/browser-support.ts'
import { refusedVideoCodecs, videoCodecsOf } from '../src/session/sdp-codecs.ts'
import { estimateLatencyMs } from '../src/stats.ts'
import { NO_ZOOM, panBy, videoStyle, zoomAbout } from '../src/view.ts'

const box = { width: 400, height: 300 }

describe('viewer UI logic (framework-free parts)', () => {
  it('explains each failure with its code and what to do', () => {
    const cases: [ErrorCode, string, RegExp, RegExp][] = [
      ['UNAUTHORIZED', 'wrong room password', /password/, /Type the room password/],
      ['JOIN_DENIED', 'the host denied your request to join', /did not let you in/, /approve/],
      ['ROOM_NOT_FOUND', 'room ABC does not exist', /host is offline/, /room code/],
      ['KICKED', 'bye', /removed you/, /new link/],
      ['TOKEN_EXPIRED', 'token expired', /expired/, /new link/],
      [
        'CODEC_UNSUPPORTED',
        'cannot decode AV1',
        /cannot play any video format/,
        /clipboard and files still work/,
      ],
    ]
    for (const [code, message, headline, action] of cases) {
      const advice = adviceFor({ state: 'failed', error: new SmolDeskError(code, message) })
      assert.match(advice.headline, headline, code)
      assert.match(advice.action ?? '', action, code)
      assert.equal(advice.code, code)
      assert.equal(advice.detail, message)
    }
    assert.equal(
      adviceFor({ state: 'failed', error: new SmolDeskError('UNAUTHORIZED', 'x') }).askPassword,
      true,
    )
    // Single sign-on: the page offers to sign in when the host wants to know who it is.
    for (const code of ['LOGIN_REQUIRED', 'LOGIN_FAILED', 'FORBIDDEN'] as const) {
      const advice = adviceFor({ state: 'failed', error: new SmolDeskError(code, 'x') })
      assert.equal(advice.signIn, true, code)
    }
    assert.match(
      adviceFor({ state: 'failed', error: new SmolDeskError('LOGIN_REQUIRED', 'x') }).headline,
      /Sign in/,
    )
    assert.equal(
      adviceFor({ state: 'failed', error: new SmolDeskError('TOKEN_EXPIRED', 'x') }).signIn,
      undefined,
    )
    // An ICE failure: the relay's fault when one was wanted and none came, else the path's.
    const diagnosis = {
      local: [],
      remote: [],
      pair: undefined,
      explanation: 'No relay candidate was gathered.',
    }
    const iceError = new SmolDeskError('ICE_FAILED', 'the media connection failed', {
      detail: diagnosis.explanation,
    })
    const turn = adviceFor({ state: 'failed', error: iceError, ice: { ...diagnosis, relayFailed: true } })
    assert.match(turn.headline, /No network path/)
    assert.match(turn.action ?? '', /relay \(TURN\) server is unreachable/)
    assert.equal(turn.detail, 'the media connection failed. No relay candidate was gathered.')
    const path = adviceFor({ state: 'failed', error: iceError, ice: { ...diagnosis, relayFailed: false } })
    assert.match(path.action ?? '', /firewall may block WebRTC/)
    assert.equal(
      statusLine({ error: iceError, detail: '' }),
      'ICE_FAILED: the media connection failed (No relay candidate was gathered.)',
    )
    assert.match(
      adviceFor({ state: 'disconnected', detail: 'the host left', hostGone: true }).headline,
      /stopped sharing/,
    )
    assert.equal(adviceFor({ state: 'disconnected', detail: 'media interrupted' }).headline, 'Disconnected')
    assert.equal(adviceFor({ state: 'connecting' }).headline, 'Connecting to the signaling server…')
  })

  it('takes a room code or a whole pasted link, and nothing else', () => {
    assert.deepEqual(parseRoomInput(' AB12CD '), { room: 'AB12CD', fragment: '' })
    assert.deepEqual(parseRoomInput('https://desk.example/?room=AB12CD#token=x.y.z'), {
      room: 'AB12CD',
      fragment: '#token=x.y.z',
    })
    for (const bad of ['', 'a b', 'https://desk.example/', 'https://x/?room=<script>', 'javascript:alert(1)'])
      assert.equal(parseRoomInput(bad), undefined, bad)
  })

  it('says what a browser lacks (WebKitGTK has no RTCPeerConnection)', () => {
    const fn = () => {}
    assert.deepEqual(missingBrowserFeatures({ RTCPeerConnection: fn, WebSocket: fn }), [])
    assert.deepEqual(missingBrowserFeatures({ WebSocket: fn }), ['WebRTC (RTCPeerConnection)'])
  })

  it('notices an answer that refused every offered video codec, and only then', () => {
    const offer =
      'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 rtx/90000\r\na=rtpmap:98 VP8/90000\r\n'
    assert.deepEqual(videoCodecsOf(offer), ['H264', 'VP8'])
    assert.deepEqual(refusedVideoCodecs(offer, 'v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 0\r\n'), ['H264', 'VP8'])
    // Firefox without OpenH264 keeps VP8: nothing refused.
    assert.equal(
      refusedVideoCodecs(offer, 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 98\r\na=rtpmap:98 VP8/90000\r\n'),
      undefined,
    )
  })

  it('zooms about the fingers, never below 1 or past the edges, and pans within bounds', () => {
    const zoomed = zoomAbout(NO_ZOOM, 2, { x: 100, y: 100 }, box)
    assert.deepEqual(zoomed, { zoom: 2, panX: -100, panY: -100 }) // the point under the fingers stays put
    assert.deepEqual(zoomAbout(zoomed, 0.1, { x: 0, y: 0 }, box), NO_ZOOM)
    assert.equal(zoomAbout(NO_ZOOM, 100, { x: 0, y: 0 }, box).zoom, 4)
    assert.deepEqual(panBy(zoomed, 1000, 1000, box), { zoom: 2, panX: 0, panY: 0 })
    assert.deepEqual(panBy(zoomed, -1000, -1000, box), { zoom: 2, panX: -400, panY: -300 })
  })

  it('sizes a 1:1 view in device pixels, so nothing is scaled', () => {
    const style = videoStyle('actual', { width: 1920, height: 1080 }, 2, NO_ZOOM)
    assert.equal(style.width, '960px')
    assert.equal(style.height, '540px')
    assert.equal(videoStyle('fill', { width: 1920, height: 1080 }, 1, NO_ZOOM).objectFit, 'cover')
    assert.equal(videoStyle('fit', { width: 1920, height: 1080 }, 1, NO_ZOOM).objectFit, 'contain')
  })

  it('estimates glass-to-glass latency from what the browser sees', () => {
    const ms = estimateLatencyMs({ fps: 60, rttMs: 2, jitterBufferDelayMs: 10, decodeTimeMs: 2 })
    assert.ok(ms !== undefined && Math.abs(ms - (1000 / 120 + 1 + 10 + 2 + 1000 / 120)) < 0.01)
    assert.equal(estimateLatencyMs({ fps: 0, rttMs: 2, jitterBufferDelayMs: 1, decodeTimeMs: 1 }), undefined)
    // A host that grabs on change waits 1 ms for the capture, not half a frame interval.
    const onChange = estimateLatencyMs({
      fps: 60,
      capture: 'on-change',
      rttMs: 2,
      jitterBufferDelayMs: 10,
      decodeTimeMs: 2,
    })
    assert.ok(onChange !== undefined && Math.abs(onChange - (1 + 1 + 10 + 2 + 1000 / 120)) < 0.01)
  })
})
