/** Live numbers from RTCPeerConnection.getStats(), the way the stats overlay shows them. */
export interface VideoStats {
  fps: number
  bitrateKbps: number
  rttMs: number | undefined
  jitterBufferDelayMs: number | undefined
  decodeTimeMs: number | undefined
  width: number
  height: number
  codec: string
  framesDecoded: number
  framesDropped: number
  candidatePairType: string | undefined
  /** The host's sound, when a track is coming in. */
  audio: AudioStats | undefined
}

export interface AudioStats {
  bitrateKbps: number
  /** How long the jitter buffer holds sound back (ms), over the last interval. */
  jitterBufferMs: number | undefined
  /** Share of the sound the browser had to make up (lost or late packets), over the last interval, in %. */
  concealedPct: number
  packetsLost: number
}

interface PreviousAudio {
  at: number
  bytes: number
  jitterDelay: number
  emitted: number
  samples: number
  concealed: number
}

/** Per-interval audio figures from the cumulative inbound-rtp counters. */
function audioStats(
  inbound: Report | undefined,
  prev: PreviousAudio | undefined,
): [AudioStats, PreviousAudio] | undefined {
  if (!inbound) return undefined
  const current: PreviousAudio = {
    at: num(inbound.timestamp),
    bytes: num(inbound.bytesReceived),
    jitterDelay: num(inbound.jitterBufferDelay),
    emitted: num(inbound.jitterBufferEmittedCount),
    samples: num(inbound.totalSamplesReceived),
    concealed: num(inbound.concealedSamples),
  }
  const seconds = prev ? (current.at - prev.at) / 1000 : 0
  const emitted = prev ? current.emitted - prev.emitted : 0
  const samples = prev ? current.samples - prev.samples : 0
  return [
    {
      bitrateKbps: prev && seconds > 0 ? ((current.bytes - prev.bytes) * 8) / seconds / 1000 : 0,
      jitterBufferMs:
        prev && emitted > 0 ? ((current.jitterDelay - prev.jitterDelay) / emitted) * 1000 : undefined,
      concealedPct: prev && samples > 0 ? ((current.concealed - prev.concealed) / samples) * 100 : 0,
      packetsLost: num(inbound.packetsLost),
    },
    current,
  ]
}

const DISPLAY_HALF_REFRESH_MS = 1000 / 60 / 2

/** A host that grabs on change takes the frame this long after the change (its grouping delay). */
const ON_CHANGE_CAPTURE_MS = 1

/**
 * Glass-to-glass estimate from what the browser can see: the wait for the
 * capture (1 ms when the host grabs on change; half a frame interval of its
 * capture rate when it grabs on a clock), half the round trip, the jitter
 * buffer, decoding, and half a 60 Hz display refresh. The host's conversion
 * and encode time (3–6 ms here) is not visible and not counted;
 * `./smoldesk bench latency` measures the real figure.
 */
export function estimateLatencyMs(s: {
  fps: number
  capture?: 'on-change' | 'fixed-rate' | undefined
  rttMs: number | undefined
  jitterBufferDelayMs: number | undefined
  decodeTimeMs: number | undefined
}): number | undefined {
  if (s.fps <= 0 || s.rttMs === undefined || s.jitterBufferDelayMs === undefined) return undefined
  const captureWait = s.capture === 'on-change' ? ON_CHANGE_CAPTURE_MS : 1000 / s.fps / 2
  return captureWait + s.rttMs / 2 + s.jitterBufferDelayMs + (s.decodeTimeMs ?? 0) + DISPLAY_HALF_REFRESH_MS
}

interface Previous {
  at: number
  bytes: number
  frames: number
  jitterDelay: number
  jitterCount: number
  decodeTime: number
}

type Report = Record<string, unknown> & { type: string; id: string }
const num = (v: unknown): number => (typeof v === 'number' ? v : 0)

/** Turns cumulative counters into per-interval rates; keep one sampler per peer connection. */
export class StatsSampler {
  #previous: Previous | undefined
  #previousAudio: PreviousAudio | undefined

  async sample(pc: RTCPeerConnection): Promise<VideoStats | undefined> {
    const reports = new Map<string, Report>()
    for (const r of (await pc.getStats()).values() as IterableIterator<Report>) reports.set(r.id, r)
    const inbound = [...reports.values()].find((r) => r.type === 'inbound-rtp' && r.kind === 'video')
    if (!inbound) return undefined
    const audio = audioStats(
      [...reports.values()].find((r) => r.type === 'inbound-rtp' && r.kind === 'audio'),
      this.#previousAudio,
    )
    this.#previousAudio = audio?.[1]
    const now = num(inbound.timestamp)
    const current: Previous = {
      at: now,
      bytes: num(inbound.bytesReceived),
      frames: num(inbound.framesDecoded),
      jitterDelay: num(inbound.jitterBufferDelay),
      jitterCount: num(inbound.jitterBufferEmittedCount),
      decodeTime: num(inbound.totalDecodeTime),
    }
    const prev = this.#previous
    this.#previous = current
    const seconds = prev ? (current.at - prev.at) / 1000 : 0
    const frames = prev ? current.frames - prev.frames : 0
    const emitted = prev ? current.jitterCount - prev.jitterCount : 0
    const codec = reports.get(String(inbound.codecId))
    const pair = [...reports.values()].find(
      (r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded',
    )
    const local = pair ? reports.get(String(pair.localCandidateId)) : undefined
    const sample: VideoStats = {
      fps:
        typeof inbound.framesPerSecond === 'number'
          ? inbound.framesPerSecond
          : seconds > 0
            ? frames / seconds
            : 0,
      bitrateKbps: prev && seconds > 0 ? ((current.bytes - prev.bytes) * 8) / seconds / 1000 : 0,
      rttMs:
        pair && typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : undefined,
      jitterBufferDelayMs:
        prev && emitted > 0 ? ((current.jitterDelay - prev.jitterDelay) / emitted) * 1000 : undefined,
      decodeTimeMs: prev && frames > 0 ? ((current.decodeTime - prev.decodeTime) / frames) * 1000 : undefined,
      width: num(inbound.frameWidth),
      height: num(inbound.frameHeight),
      codec: typeof codec?.mimeType === 'string' ? codec.mimeType.replace('video/', '') : '',
      framesDecoded: current.frames,
      framesDropped: num(inbound.framesDropped),
      candidatePairType: typeof local?.candidateType === 'string' ? local.candidateType : undefined,
      audio: audio?.[0],
    }
    return sample
  }
}
