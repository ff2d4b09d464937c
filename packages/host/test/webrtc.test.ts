import assert from 'node:assert/strict'
import { KeyObject } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCSessionDescription,
  RtpHeader,
  RtpPacket,
} from 'werift'
import { useSrtpKeyObjects } from '../src/webrtc/werift/srtp-keys.ts'
import { videoAccepted, WeriftTransport } from '../src/webrtc/werift/werift-transport.ts'
import { eventually } from './helpers.ts'

/** A viewer stand-in that decodes only these codecs: werift as the answering browser. */
async function answerFrom(offer: string, decodes: string[]): Promise<string> {
  const viewer = new RTCPeerConnection({
    codecs: {
      video: decodes.map(
        (name) =>
          new RTCRtpCodecParameters({
            mimeType: `video/${name}`,
            clockRate: 90000,
            ...(name === 'H264' && {
              parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
            }),
          }),
      ),
    },
    iceServers: [],
  })
  try {
    await viewer.setRemoteDescription({ type: 'offer', sdp: offer })
    const answer = await viewer.createAnswer()
    await viewer.setLocalDescription(answer)
    return viewer.localDescription?.sdp ?? answer.sdp
  } finally {
    await viewer.close()
  }
}

const noEvents = {
  onLocalCandidate: () => {},
  onConnectionState: () => {},
  onKeyframeRequest: () => {},
  onPathFeedback: () => {},
  onInput: () => {},
  onInputClosed: () => {},
  onDataChannel: () => {},
  onMicrophone: () => {},
}

describe('codec negotiation', () => {
  const negotiate = async (decodes: string[]) => {
    const peer = new WeriftTransport().createPeer({
      viewerId: 'v1',
      codecs: ['H264', 'VP8', 'VP9'],
      iceServers: [],
      events: noEvents,
    })
    try {
      const offer = await peer.createOffer()
      return { offer, ...(await peer.acceptAnswer(await answerFrom(offer, decodes))) }
    } finally {
      await peer.close()
    }
  }

  it('offers every codec the host streams, best first', async () => {
    const { offer } = await negotiate(['H264'])
    const codecs = [...offer.matchAll(/a=rtpmap:\d+ (\w+)\/90000/g)].map((m) => m[1])
    assert.deepEqual(codecs, ['H264', 'VP8', 'VP9'])
  })

  it('sends the codec the viewer put first among those it decodes', async () => {
    assert.equal((await negotiate(['H264', 'VP8'])).codec, 'H264')
    // A Firefox without OpenH264: no H264 in its answer.
    assert.equal((await negotiate(['VP8', 'VP9'])).codec, 'VP8')
    assert.equal((await negotiate(['VP9'])).codec, 'VP9')
  })

  it('leaves no UDP socket behind once a negotiated peer is closed', async () => {
    // werift gathers one ICE transport per m-line and forgot the bundled-away one (3 sockets a peer).
    const udp = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length
    await eventually(async () => assert.equal(udp(), 0, 'earlier peers closed'))
    await negotiate(['VP8'])
    await eventually(async () => assert.equal(udp(), 0))
  })

  it('says so when the viewer decodes nothing the host offered', async () => {
    const result = await negotiate(['AV1'])
    assert.equal(result.codec, undefined)
    assert.deepEqual(result.offered, ['H264', 'VP8', 'VP9'])
  })

  it('reads a rejected video section from the answer', () => {
    assert.equal(videoAccepted('v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 0\r\n'), false)
    assert.equal(videoAccepted('v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n'), true)
    assert.equal(videoAccepted('v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n'), false)
  })
})

describe('SRTP keys', () => {
  it('encrypts with the session keys as KeyObjects, and the other side decrypts every packet', async () => {
    useSrtpKeyObjects()
    const codec = new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000 })
    const sender = new RTCPeerConnection({
      codecs: { video: [codec] },
      iceAdditionalHostAddresses: ['127.0.0.1'],
    })
    const receiver = new RTCPeerConnection({
      codecs: { video: [codec] },
      iceAdditionalHostAddresses: ['127.0.0.1'],
    })
    try {
      const track = new MediaStreamTrack({ kind: 'video' })
      sender.addTransceiver(track, { direction: 'sendonly' })
      const received: string[] = []
      receiver.onTrack.subscribe((t) =>
        t.onReceiveRtp.subscribe((rtp) => received.push(rtp.payload.toString())),
      )
      await sender.setLocalDescription(await sender.createOffer())
      await receiver.setRemoteDescription(sender.localDescription as RTCSessionDescription)
      await receiver.setLocalDescription(await receiver.createAnswer())
      await sender.setRemoteDescription(receiver.localDescription as RTCSessionDescription)
      await eventually(async () => assert.equal(sender.connectionState, 'connected'))
      const dtls = sender.getTransceivers()[0]?.sender.dtlsTransport as unknown as {
        srtp: { localContext: { cipher: { srtpSessionKey: unknown; srtcpSessionKey: unknown } } }
      }
      const cipher = dtls.srtp.localContext.cipher
      assert.ok(cipher.srtpSessionKey instanceof KeyObject, 'the SRTP key is a KeyObject')
      assert.ok(cipher.srtcpSessionKey instanceof KeyObject, 'the SRTCP key is a KeyObject')
      const sent = Array.from({ length: 50 }, (_, i) => `frame ${i} `.repeat(100))
      for (const [i, payload] of sent.entries()) {
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: i,
          timestamp: i * 3000,
          marker: true,
        })
        track.writeRtp(new RtpPacket(header, Buffer.from(payload)))
      }
      await eventually(async () => assert.deepEqual(received, sent))
    } finally {
      await Promise.all([sender.close(), receiver.close()])
    }
  })
})
