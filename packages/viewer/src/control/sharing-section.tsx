import type { HardwareAcceleration, LatencyMode, VideoCodec } from '@smoldesk/protocol'
import { useEffect, useState } from 'react'
import { Choice } from '../choice.tsx'
import type { SectionProps } from './section-props.ts'

const LATENCY_MODES: LatencyMode[] = ['UltraLow', 'Balanced', 'Quality']
const FPS_CHOICES = [15, 30, 60]

/** What is shared: the monitor, the stream's quality and codec, input on or off. */
export function Sharing({ state, control, act }: SectionProps) {
  const capture = state.status?.capture
  const [fps, setFps] = useState(capture?.fps ?? 30)
  const [quality, setQuality] = useState(capture?.quality ?? 80)
  const [codec, setCodec] = useState<VideoCodec>(capture?.codec ?? 'H264')
  const [acceleration, setAcceleration] = useState<HardwareAcceleration>(
    capture?.hardware_acceleration ?? 'None',
  )
  const [latency, setLatency] = useState<LatencyMode>(capture?.latency_mode ?? 'UltraLow')
  // The form follows what the host streams (changed from here, a viewer's toolbar or the CLI).
  const running = capture ? JSON.stringify(capture) : ''
  useEffect(() => {
    if (!running) return
    const c = JSON.parse(running) as NonNullable<typeof capture>
    setFps(c.fps)
    setQuality(c.quality)
    setCodec(c.codec)
    setAcceleration(c.hardware_acceleration)
    setLatency(c.latency_mode)
  }, [running])
  const config = () => ({
    fps,
    quality,
    codec,
    hardware_acceleration: acceleration,
    latency_mode: latency,
  })
  const selected = capture?.monitor_index ?? 0
  return (
    <section aria-labelledby="share-title">
      <h2 id="share-title">Sharing</h2>
      <ul className="monitors">
        {state.monitors.map((m) => (
          <li key={m.index} className={capture && m.index === selected ? 'current' : ''}>
            {state.thumbnails[m.index] ? (
              <img src={state.thumbnails[m.index]} alt={`What monitor ${m.index + 1} shows now`} />
            ) : (
              <div className="thumb-placeholder" />
            )}
            <span>
              {m.index + 1}: {m.name} · {m.width}×{m.height}
              {m.is_primary ? ' · primary' : ''}
            </span>
            <button
              type="button"
              onClick={() => act(() => control.share(m.index, config()), `Sharing monitor ${m.index + 1}`)}
            >
              {capture && m.index === selected ? 'Sharing' : `Share monitor ${m.index + 1}`}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="settings"
        onSubmit={(ev) => {
          ev.preventDefault()
          act(() => control.share(selected, config()), 'Settings applied')
        }}
      >
        <span className="setting">
          <label htmlFor="setting-fps">Frames per second</label>
          <Choice id="setting-fps" value={fps} options={FPS_CHOICES} onChange={setFps} />
        </span>
        <label>
          Quality ({quality})
          <input
            type="range"
            min={0}
            max={100}
            value={quality}
            onChange={(ev) => setQuality(Number(ev.target.value))}
          />
        </label>
        <span className="setting">
          <label htmlFor="setting-codec">Codec</label>
          <Choice id="setting-codec" value={codec} options={state.codecs} onChange={setCodec} />
        </span>
        <span className="setting">
          <label htmlFor="setting-acceleration">Hardware acceleration</label>
          <Choice
            id="setting-acceleration"
            value={acceleration}
            options={state.accelerations}
            onChange={setAcceleration}
          />
        </span>
        <span className="setting">
          <label htmlFor="setting-latency">Latency mode</label>
          <Choice id="setting-latency" value={latency} options={LATENCY_MODES} onChange={setLatency} />
        </span>
        <button type="submit">{capture ? 'Apply' : 'Start sharing'}</button>
        {capture && (
          <button
            type="button"
            className="danger"
            onClick={() => act(() => control.stopSharing(), 'Stopped')}
          >
            Stop sharing
          </button>
        )}
        <button
          type="button"
          aria-pressed={state.status?.input_enabled ?? false}
          onClick={() => act(() => control.setInput(!state.status?.input_enabled))}
        >
          Remote input {state.status?.input_enabled ? 'on' : 'off'}
        </button>
        <button
          type="button"
          aria-pressed={state.status?.audio.enabled ?? false}
          onClick={() => act(() => control.setAudio(!state.status?.audio.enabled))}
        >
          Sound {state.status?.audio.enabled ? 'on' : 'off'}
        </button>
      </form>
      <p className="sound-status">{soundStatus(state.status?.audio)}</p>
    </section>
  )
}

/** What viewers hear, in words. */
function soundStatus(audio: NonNullable<SectionProps['state']['status']>['audio'] | undefined): string {
  if (!audio) return ''
  if (audio.streaming)
    return `Viewers hear ${audio.streaming.device} (Opus ${audio.streaming.bitrate_kbps} kbit/s)`
  if (!audio.enabled) return 'Viewers hear nothing: sound is off'
  return audio.unavailable ? `No sound for viewers: ${audio.unavailable}` : 'No sound while nothing is shared'
}
