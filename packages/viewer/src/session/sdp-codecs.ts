import { createLogger } from '../log.ts'

const log = createLogger('codecs')

/** The video codecs of an SDP's video section, in its order (repair and FEC formats left out). */
export function videoCodecsOf(sdp: string): string[] {
  const section = sdp.split(/\r?\nm=/).find((s) => s.startsWith('video ') || s.startsWith('m=video '))
  if (!section || /^(m=)?video 0 /.test(section)) return []
  return [...section.matchAll(/a=rtpmap:\d+ ([\w-]+)\/90000/g)]
    .map((m) => (m[1] ?? '').toUpperCase())
    .filter((c) => !['RTX', 'RED', 'ULPFEC', 'FLEXFEC-03'].includes(c))
}

/** The video codecs the host offered if our answer kept none of them, else undefined. */
export function refusedVideoCodecs(offer: string, answer: string): string[] | undefined {
  const offered = videoCodecsOf(offer)
  if (offered.length === 0) return undefined
  const accepted = new Set(videoCodecsOf(answer))
  return offered.some((c) => accepted.has(c)) ? undefined : offered
}

/**
 * Our answer lists the codecs we decode in the host's order: the host
 * offers its cheapest, best encoder first, and sends whichever codec our
 * answer puts first, so a browser's own taste must not start a second
 * encoder on the host for nothing.
 */
export function preferOfferOrder(pc: RTCPeerConnection, offer: string): void {
  const order = videoCodecsOf(offer)
  const video = pc.getTransceivers().find((t) => t.receiver.track.kind === 'video')
  const decodes =
    typeof RTCRtpReceiver === 'undefined' ? undefined : RTCRtpReceiver.getCapabilities?.('video')?.codecs
  if (!video || !decodes || typeof video.setCodecPreferences !== 'function') return
  const rank = (codec: RTCRtpCodec) => {
    const i = order.indexOf(codec.mimeType.replace(/^video\//i, '').toUpperCase())
    return i < 0 ? order.length : i
  }
  try {
    video.setCodecPreferences([...decodes].sort((a, b) => rank(a) - rank(b)))
  } catch (err) {
    log.warn({ err: String(err) }, 'codec preferences not taken; the browser orders its answer itself')
  }
}
