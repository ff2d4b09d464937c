import { estimateLatencyMs, type VideoStats } from './stats.ts'

const ms = (v: number | undefined, digits = 0) => (v === undefined ? '–' : `${v.toFixed(digits)} ms`)

/** The live numbers a user (or a support person) asks for first. */
/** `stream`: the host's capture rate and mode (a static screen decodes far fewer frames than are captured). */
export function StatsOverlay({
  stats,
  stream,
}: {
  stats: VideoStats
  stream: { fps: number; capture: 'on-change' | 'fixed-rate' } | null | undefined
}) {
  const latency = estimateLatencyMs({ ...stats, fps: stream?.fps ?? stats.fps, capture: stream?.capture })
  const rows: [string, string][] = [
    ['fps', stats.fps.toFixed(0)],
    ['bitrate', `${(stats.bitrateKbps / 1000).toFixed(2)} Mbit/s`],
    ['RTT', ms(stats.rttMs)],
    ['jitter buffer', ms(stats.jitterBufferDelayMs, 1)],
    ['decode', ms(stats.decodeTimeMs, 1)],
    ['latency (est.)', latency === undefined ? '–' : `≈ ${latency.toFixed(0)} ms`],
    ['codec', stats.codec || '–'],
    ['resolution', `${stats.width}×${stats.height}`],
    ['path', stats.candidatePairType ?? '–'],
    ...(stats.audio
      ? ([
          ['audio', `Opus ${stats.audio.bitrateKbps.toFixed(0)} kbit/s`],
          ['audio buffer', ms(stats.audio.jitterBufferMs, 1)],
          ['audio concealed', `${stats.audio.concealedPct.toFixed(1)} %`],
        ] as [string, string][])
      : []),
  ]
  return (
    <dl className="stats" aria-label="Connection statistics">
      {rows.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  )
}
