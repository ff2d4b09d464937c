import { VIDEO_CODECS, type VideoCodec } from '@smoldesk/protocol'

/**
 * The video codecs this browser decodes (RTCRtpReceiver.getCapabilities):
 * Debian's Firefox without OpenH264, for one, has no H264. The toolbar
 * offers only these, and the host's offer is answered from the same list.
 */
export function decodableCodecs(): VideoCodec[] {
  // A browser without WebRTC has no RTCRtpReceiver at all (the page then says so: BROWSER_UNSUPPORTED).
  if (typeof RTCRtpReceiver === 'undefined') return []
  const found = RTCRtpReceiver.getCapabilities?.('video')?.codecs ?? []
  const names = new Set(found.map((c) => c.mimeType.replace(/^video\//i, '').toUpperCase()))
  return VIDEO_CODECS.filter((codec) => names.has(codec))
}

/**
 * The codec choices a viewer gets: what the host can encode and this
 * browser can decode; the one shown is the one this viewer receives (it
 * may differ from the host's setting when this browser cannot decode that).
 */
export function codecChoice(
  hostCodecs: readonly VideoCodec[],
  decodable: readonly VideoCodec[],
  configured: VideoCodec,
  receiving: string | undefined,
): { options: VideoCodec[]; value: VideoCodec } {
  const options = hostCodecs.filter((c) => decodable.includes(c))
  const received = options.find((c) => c === receiving?.toUpperCase())
  return {
    options,
    value: received ?? (options.includes(configured) ? configured : (options[0] ?? configured)),
  }
}
