import {
  type HardwareAcceleration,
  type LatencyMode,
  SmolDeskError,
  type VideoCodec,
} from '@smoldesk/protocol'
import { useEffect, useState } from 'react'
import { Choice } from '../choice.tsx'
import { type ControlState, HostControl } from './control-model.ts'
import { QrCode } from './qr-code.tsx'

const LATENCY_MODES: LatencyMode[] = ['UltraLow', 'Balanced', 'Quality']
const FPS_CHOICES = [15, 30, 60]

declare global {
  interface Window {
    /** For tests and debugging: the control page's model. */
    smoldeskControl?: HostControl
  }
}

/** The host's own page: what is shared, with whom, and how. */
export function ControlApp() {
  const [control] = useState(() => new HostControl((s) => setState(s)))
  const [state, setState] = useState<ControlState>(control.state)
  const [note, setNote] = useState('')
  useEffect(() => {
    window.smoldeskControl = control
    const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? ''
    void control.connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ipc`, token)
    return () => control.close()
  }, [control])
  /** Runs an action; a refusal is shown with its code. */
  const act = (what: () => Promise<void>, done?: string) => {
    setNote('')
    what().then(
      () => done && setNote(done),
      (err: unknown) => {
        const error = SmolDeskError.from(err)
        setNote(`${error.code}: ${error.message}`)
      },
    )
  }
  if (state.connection !== 'connected') {
    return (
      <main className="control">
        <h1>SmolDesk host</h1>
        <p role="status">{state.connection === 'connecting' ? 'Connecting to the host…' : state.error}</p>
      </main>
    )
  }
  const status = state.status
  return (
    <main className="control">
      <header>
        <h1>SmolDesk host</h1>
        <p role="status">
          {status?.capture
            ? `Sharing monitor ${status.capture.monitor_index + 1} · ${status.capture.codec} · ${status.capture.fps} fps`
            : 'Not sharing'}
          {' · '}
          {state.viewers.filter((v) => v.state === 'connected').length} viewer(s) connected
        </p>
      </header>
      {/* Always there (empty when quiet), so a message never shifts the page under the pointer. */}
      <p className="note" role="alert">
        {note}
      </p>
      <Sharing state={state} control={control} act={act} />
      <Invite state={state} control={control} act={act} />
      <Viewers state={state} control={control} act={act} />
      <Security state={state} control={control} act={act} />
      <Transfers state={state} control={control} act={act} />
      <section aria-labelledby="log-title">
        <h2 id="log-title">Recent log</h2>
        <ol className="log">
          {state.logs.slice(-20).map((line) => (
            <li key={`${line.time}-${line.name}-${line.msg}`} className={`log-${line.level}`}>
              <time>{new Date(line.time).toLocaleTimeString()}</time> <b>{line.level}</b> {line.name}:{' '}
              {line.msg}
              {line.detail && <span className="detail"> {line.detail}</span>}
            </li>
          ))}
        </ol>
      </section>
    </main>
  )
}

interface SectionProps {
  state: ControlState
  control: HostControl
  act: (what: () => Promise<void>, done?: string) => void
}

function Sharing({ state, control, act }: SectionProps) {
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
      </form>
    </section>
  )
}

function Invite({ state, control, act }: SectionProps) {
  const link = state.shareLink
  return (
    <section aria-labelledby="invite-title">
      <h2 id="invite-title">Invite</h2>
      <p>
        Room code: <code>{state.status?.room_id ?? '–'}</code>
      </p>
      {link && (
        <div className="invite">
          <QrCode text={link.url} />
          <div>
            <label htmlFor="share-link">
              Share link ({link.role}, valid until {new Date(link.expires_at * 1000).toLocaleTimeString()})
            </label>
            <input id="share-link" readOnly value={link.url} onFocus={(ev) => ev.target.select()} />
            <button
              type="button"
              onClick={() => act(() => navigator.clipboard.writeText(link.url), 'Link copied')}
            >
              Copy link
            </button>
            <button type="button" onClick={() => act(() => control.newShareLink('viewer'))}>
              New control link
            </button>
            <button type="button" onClick={() => act(() => control.newShareLink('view-only'))}>
              New view-only link
            </button>
          </div>
        </div>
      )}
    </section>
  )
}

function Viewers({ state, control, act }: SectionProps) {
  return (
    <section aria-labelledby="viewers-title">
      <h2 id="viewers-title">Viewers</h2>
      {state.viewers.length === 0 ? (
        <p>Nobody yet. Send someone the share link.</p>
      ) : (
        <ul className="viewers">
          {state.viewers.map((v) => (
            <li key={v.peer_id} data-peer-id={v.peer_id}>
              <span>
                <code>{v.peer_id.slice(0, 8)}</code> · {v.state === 'pending' ? 'asks to join' : v.state} ·{' '}
                {v.role === 'viewer' ? 'full control' : 'view only'}
              </span>
              {v.state === 'pending' ? (
                <>
                  <button type="button" onClick={() => act(() => control.approve(v.peer_id, 'viewer'))}>
                    Approve
                  </button>
                  <button type="button" onClick={() => act(() => control.approve(v.peer_id, 'view-only'))}>
                    Approve view only
                  </button>
                  <button type="button" className="danger" onClick={() => act(() => control.deny(v.peer_id))}>
                    Deny
                  </button>
                </>
              ) : (
                <>
                  <button
                    type="button"
                    onClick={() =>
                      act(() => control.setRole(v.peer_id, v.role === 'viewer' ? 'view-only' : 'viewer'))
                    }
                  >
                    {v.role === 'viewer' ? 'Make view only' : 'Give control'}
                  </button>
                  <button type="button" className="danger" onClick={() => act(() => control.kick(v.peer_id))}>
                    Kick
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

function Security({ state, control, act }: SectionProps) {
  const [password, setPassword] = useState('')
  const [key, setKey] = useState('')
  const status = state.status
  return (
    <section aria-labelledby="security-title">
      <h2 id="security-title">Security</h2>
      <p>
        Room password: {status?.password ? 'set' : 'none'} · Viewers without a link:{' '}
        {status?.approval ? 'may ask to join' : 'turned away'} · Signing key:{' '}
        {status?.security_initialized ? 'yours' : 'random for this launch'}
      </p>
      <form
        onSubmit={(ev) => {
          ev.preventDefault()
          act(() => control.setAccess({ password }), password ? 'Password set' : 'Password removed')
          setPassword('')
        }}
      >
        <label htmlFor="room-password-new">New room password (empty: none)</label>
        <input
          id="room-password-new"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(ev) => setPassword(ev.target.value)}
        />
        <button type="submit">Set password</button>
      </form>
      <label className="check">
        <input
          type="checkbox"
          checked={status?.approval ?? false}
          onChange={(ev) => act(() => control.setAccess({ approval: ev.target.checked }))}
        />
        Let viewers without a link ask to join (you approve each)
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={status?.viewer_resize ?? false}
          onChange={(ev) => act(() => control.setViewerResize(ev.target.checked))}
        />
        Let viewers resize the shared monitor to their window (virtual monitors only; back to its size when
        they leave)
      </label>
      <form
        onSubmit={(ev) => {
          ev.preventDefault()
          act(() => control.setSecurityKey(key), 'Signing key set; links signed before no longer work')
          setKey('')
        }}
      >
        <label htmlFor="security-key">Signing key (at least 32 characters)</label>
        <input
          id="security-key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(ev) => setKey(ev.target.value)}
        />
        <button type="submit">Set signing key</button>
      </form>
    </section>
  )
}

function Transfers({ state, control, act }: SectionProps) {
  if (state.transfers.length === 0) return null
  return (
    <section aria-labelledby="transfers-title">
      <h2 id="transfers-title">Transfers</h2>
      <ul className="transfers">
        {state.transfers.map((t) => (
          <li key={t.id} data-transfer-id={t.id}>
            <span>
              {t.direction === 'viewer-to-host' ? 'incoming' : 'outgoing'}: {t.name} · {t.state}
            </span>
            <progress max={t.size || 1} value={t.transferred} aria-label={`${t.name} progress`} />
            {t.state === 'pending' && t.direction === 'viewer-to-host' && (
              <>
                <button type="button" onClick={() => act(() => control.transfer('accept', t.id))}>
                  Accept
                </button>
                <button type="button" onClick={() => act(() => control.transfer('reject', t.id))}>
                  Reject
                </button>
              </>
            )}
            {t.state === 'active' && (
              <button type="button" onClick={() => act(() => control.transfer('pause', t.id))}>
                Pause
              </button>
            )}
            {t.state === 'paused' && (
              <button type="button" onClick={() => act(() => control.transfer('resume', t.id))}>
                Resume
              </button>
            )}
            {['pending', 'active', 'paused', 'interrupted'].includes(t.state) && (
              <button
                type="button"
                className="danger"
                onClick={() => act(() => control.transfer('cancel', t.id))}
              >
                Cancel
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  )
}
