import type { MicrophoneState } from './microphone.ts'
import type { SoundState } from './sound.ts'

/** The host's sound: mute, volume, and a click to let it start when the browser holds it back. */
export function SpeakerControl(p: {
  state: SoundState
  volume: number
  /** The host streams sound; when it does not, why (in its words). */
  hostSound: { streaming: boolean; reason?: string | undefined } | undefined
  onMuted: (muted: boolean) => void
  onVolume: (volume: number) => void
  onUnlock: () => void
}) {
  if (p.hostSound && !p.hostSound.streaming) {
    return (
      <button
        type="button"
        disabled
        title={`No sound from the host: ${p.hostSound.reason ?? 'none playing'}`}
      >
        No sound
      </button>
    )
  }
  if (p.state === 'none') return null
  if (p.state === 'blocked') {
    return (
      <button type="button" className="attention" onClick={p.onUnlock}>
        Click to hear sound
      </button>
    )
  }
  const muted = p.state === 'muted'
  return (
    <span className="field sound">
      <button type="button" aria-pressed={muted} aria-label="Mute" onClick={() => p.onMuted(!muted)}>
        {muted ? 'Sound off' : 'Sound on'}
      </button>
      <input
        type="range"
        aria-label="Volume"
        min={0}
        max={100}
        value={Math.round(p.volume * 100)}
        onChange={(ev) => p.onVolume(Number(ev.target.value) / 100)}
      />
    </span>
  )
}

const MIC_WORDS: Record<MicrophoneState, string> = {
  'not-allowed': 'Microphone (host has not allowed it)',
  off: 'Microphone off',
  asking: 'Microphone…',
  on: 'Microphone on',
  refused: 'Microphone blocked',
}

/** Talking into the host's "SmolDesk microphone": only once the host allows this viewer. */
export function MicrophoneButton(p: { state: MicrophoneState; why: string; onToggle: () => void }) {
  return (
    <button
      type="button"
      aria-pressed={p.state === 'on'}
      disabled={p.state === 'not-allowed' || p.state === 'asking'}
      title={
        p.state === 'refused'
          ? `The browser refused the microphone (${p.why}); allow it in the address bar and try again`
          : p.state === 'not-allowed'
            ? 'The host decides who may talk into its desktop'
            : 'Your voice goes to the host as its "SmolDesk microphone"'
      }
      onClick={p.onToggle}
    >
      {MIC_WORDS[p.state]}
    </button>
  )
}
