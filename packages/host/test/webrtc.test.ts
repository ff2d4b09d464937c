import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { answerAcceptsCodec } from '../src/webrtc/viewer-hub.ts'

describe('codec negotiation', () => {
  const answer = (codecLines: string) =>
    ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96 97', codecLines, 'a=rtcp-fb:96 nack pli', ''].join('\r\n')

  it('sees whether the browser kept the offered codec in its answer', () => {
    assert.equal(answerAcceptsCodec(answer('a=rtpmap:96 H264/90000\r\na=rtpmap:97 rtx/90000'), 'H264'), true)
    assert.equal(answerAcceptsCodec(answer('a=rtpmap:96 VP8/90000'), 'VP8'), true)
    assert.equal(answerAcceptsCodec(answer('a=rtpmap:100 vp9/90000'), 'VP9'), true)
    assert.equal(answerAcceptsCodec(answer('a=rtpmap:96 VP8/90000'), 'H264'), false)
    assert.equal(answerAcceptsCodec('v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 0\r\n', 'AV1'), false)
  })
})
