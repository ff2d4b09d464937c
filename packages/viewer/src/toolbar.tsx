import {
  type HardwareAcceleration,
  type SessionState,
  STREAM_PRESETS,
  type StreamPreset,
  type VideoCodec,
} from '@smoldesk/protocol'
import type { ReactNode } from 'react'
import { Choice } from './choice.tsx'
import { codecChoice } from './codecs.ts'
import { SPECIAL_KEYS, type SpecialKey } from './special-keys.ts'
import type { TouchMode } from './touch.ts'
import { VIEW_MODES, type ViewMode } from './view.ts'

const VIEW_MODE_ORDER: readonly ViewMode[] = ['fit', 'actual', 'fill']
const TOUCH_MODES: readonly TouchMode[] = ['direct', 'trackpad']

const PRESET_WORDS: Record<StreamPreset, string> = {
  fast: 'Fast (60 fps, lowest latency)',
  balanced: 'Balanced (30 fps)',
  sharp: 'Sharp (crisp text, 30 fps)',
}

export interface ToolbarProps {
  hidden: boolean
  /** The speaker and microphone controls (sound-controls.tsx). */
  sound: ReactNode
  session: SessionState | undefined
  /** Codecs this browser decodes, and the one it receives now (from its stats). */
  decodable: VideoCodec[]
  receivingCodec: string | undefined
  canShare: boolean
  viewMode: ViewMode
  onViewMode: (mode: ViewMode) => void
  touchMode: TouchMode
  onTouchMode: (mode: TouchMode) => void
  inputOn: boolean
  onInputOn: (on: boolean) => void
  showStats: boolean
  onShowStats: (on: boolean) => void
  fitRemote: boolean
  onFitRemote: (on: boolean) => void
  onMonitor: (index: number) => void
  onStream: (change: {
    preset?: StreamPreset
    codec?: VideoCodec
    hardware_acceleration?: HardwareAcceleration
  }) => void
  onSpecialKey: (key: SpecialKey) => void
  onKeyboard: () => void
  onFullscreen: () => void
  onPointerLock: () => void
  onSendClipboard: () => void
  onFiles: (files: FileList | null) => void
  onDisconnect: () => void
}

/**
 * Everything a viewer can do, in one bar that gets out of the way: it hides
 * while the pointer is on the remote screen and comes back at the top edge,
 * on a tap of its handle, or when it holds keyboard focus.
 */
export function Toolbar(p: ToolbarProps) {
  const s = p.session
  const control = s?.can_control === true && s.stream !== null
  return (
    <nav className={`toolbar${p.hidden ? ' toolbar-hidden' : ''}`} aria-label="Viewer controls">
      {s && s.monitors.length > 0 && (
        <Field label="Monitor">
          <select
            aria-label="Monitor"
            disabled={!control}
            value={s.stream?.monitor_index ?? ''}
            onChange={(ev) => p.onMonitor(Number(ev.target.value))}
          >
            {s.stream === null && <option value="">not sharing</option>}
            {s.monitors.map((m) => (
              <option key={m.index} value={m.index}>
                {m.index + 1}: {m.name} ({m.width}×{m.height})
              </option>
            ))}
          </select>
        </Field>
      )}
      {s?.stream && (
        <Field label="Quality">
          <select
            aria-label="Quality preset"
            disabled={!control}
            value={s.stream.preset ?? ''}
            onChange={(ev) => p.onStream({ preset: ev.target.value as StreamPreset })}
          >
            {s.stream.preset === null && <option value="">custom</option>}
            {(Object.keys(STREAM_PRESETS) as StreamPreset[]).map((name) => (
              <option key={name} value={name}>
                {PRESET_WORDS[name]}
              </option>
            ))}
          </select>
        </Field>
      )}
      {s?.stream && codecField(s.codecs, p, s.stream.codec, control)}
      {s?.stream && s.hardware_accelerations.length > 1 && (
        <Field label="Encoder">
          <Choice
            label="Hardware acceleration"
            disabled={!control}
            value={s.stream.hardware_acceleration}
            options={s.hardware_accelerations}
            onChange={(hardware_acceleration) => p.onStream({ hardware_acceleration })}
            describe={(a) => (a === 'None' ? 'Software encoder' : a)}
          />
        </Field>
      )}
      <Field label="View">
        <Choice
          label="View"
          value={p.viewMode}
          options={VIEW_MODE_ORDER}
          onChange={p.onViewMode}
          describe={(mode) => VIEW_MODES[mode]}
        />
      </Field>
      {p.canShare && (
        <>
          <Field label="Touch">
            <Choice
              label="Touch mode"
              value={p.touchMode}
              options={TOUCH_MODES}
              onChange={p.onTouchMode}
              describe={(mode) => (mode === 'direct' ? 'Direct touch' : 'Trackpad')}
            />
          </Field>
          <button type="button" aria-pressed={p.inputOn} onClick={() => p.onInputOn(!p.inputOn)}>
            {p.inputOn ? 'Input on' : 'Input off'}
          </button>
          <Field label="Keys">
            <select
              aria-label="Send special keys"
              value=""
              onChange={(ev) => {
                if (ev.target.value in SPECIAL_KEYS) p.onSpecialKey(ev.target.value as SpecialKey)
              }}
            >
              <option value="">Send keys…</option>
              {Object.keys(SPECIAL_KEYS).map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </Field>
          <button type="button" onClick={p.onKeyboard}>
            Keyboard
          </button>
          <button type="button" onClick={p.onSendClipboard}>
            Send my clipboard
          </button>
          <label className="file-button">
            Send files
            <input
              type="file"
              multiple
              aria-label="Send files"
              onChange={(ev) => p.onFiles(ev.target.files)}
            />
          </label>
        </>
      )}
      {p.sound}
      <button type="button" onClick={p.onFullscreen}>
        Fullscreen
      </button>
      {p.canShare && (
        <button type="button" onClick={p.onPointerLock}>
          Lock pointer
        </button>
      )}
      {s && s.resize !== 'unsupported' && (
        <button
          type="button"
          aria-pressed={p.fitRemote && s.resize === 'allowed'}
          disabled={s.resize !== 'allowed'}
          title={
            s.resize === 'allowed'
              ? 'The remote screen takes the size of this window'
              : 'The host does not let viewers resize its screen'
          }
          onClick={() => p.onFitRemote(!p.fitRemote)}
        >
          Resize remote
        </button>
      )}
      <button type="button" aria-pressed={p.showStats} onClick={() => p.onShowStats(!p.showStats)}>
        Stats
      </button>
      <button type="button" className="danger" onClick={p.onDisconnect}>
        Disconnect
      </button>
    </nav>
  )
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <span className="field" title={label}>
      {children}
    </span>
  )
}

/** The codec picker: only what this browser decodes, showing the codec it receives. */
function codecField(hostCodecs: VideoCodec[], p: ToolbarProps, configured: VideoCodec, control: boolean) {
  const { options, value } = codecChoice(hostCodecs, p.decodable, configured, p.receivingCodec)
  if (options.length <= 1) return null
  return (
    <Field label="Codec">
      <Choice
        label="Codec"
        disabled={!control}
        value={value}
        options={options}
        onChange={(codec) => p.onStream({ codec })}
      />
    </Field>
  )
}
