import type { RoomRole } from '@smoldesk/protocol'
import { useEffect, useRef, useState } from 'react'
import { type ConnectionState, ViewerConnection } from './connection.ts'
import { InputCapture } from './input.ts'
import { isSpecialKey, SPECIAL_KEYS } from './special-keys.ts'
import { StatsSampler, type VideoStats } from './stats.ts'

declare global {
  interface Window {
    /** For tests and debugging: the live connection and the last stats sample. */
    smoldesk?: {
      connection: ViewerConnection
      stats: VideoStats | undefined
      state: ConnectionState
      detail: string
      role: RoomRole | undefined
    }
  }
}

/**
 * What the link says: `?room=CODE` (and optionally `role=view-only`,
 * `relay=1` to force TURN, `insecure=1` to allow a password over plain
 * HTTP), and `#token=JWT` in the fragment, which browsers never send to a
 * server.
 */
/** The `role` claim of a JWT's payload, unverified. */
function tokenRole(token: string | undefined): unknown {
  try {
    const payload = token?.split('.')[1]
    if (!payload) return undefined
    return (JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { role?: unknown }).role
  } catch {
    return undefined
  }
}

function linkParams() {
  const query = new URLSearchParams(location.search)
  const fragment = new URLSearchParams(location.hash.slice(1))
  const token = fragment.get('token') ?? undefined
  // A view-only token admits a watcher only: ask for that role, so the page does not capture input
  // the host would refuse. (The host verifies the token; reading its claim here decides nothing.)
  const viewOnly = query.get('role') === 'view-only' || tokenRole(token) === 'view-only'
  return {
    roomId: query.get('room') ?? '',
    token,
    role: viewOnly ? ('view-only' as const) : undefined,
    relay: query.get('relay') === '1',
    insecure: query.get('insecure') === '1',
  }
}

const STATE_WORDS: Record<ConnectionState, string> = {
  connecting: 'Connecting to the signaling server…',
  'waiting-for-approval': 'Waiting for the host to let you in…',
  'waiting-for-host': 'Joined the room; waiting for the host to offer its screen…',
  reconnecting: 'Connection to the signaling server lost; reconnecting…',
  negotiating: 'Setting up the video connection…',
  connected: 'Connected',
  disconnected: 'Disconnected',
  failed: 'Connection failed',
}

function signalingUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}/signal`
}

export function App() {
  const [link] = useState(linkParams)
  const { roomId } = link
  const [password, setPassword] = useState<string | undefined>(undefined)
  const [passwordDraft, setPasswordDraft] = useState('')
  const [role, setRole] = useState<RoomRole | undefined>(undefined)
  const videoRef = useRef<HTMLVideoElement>(null)
  const captureRef = useRef<InputCapture | undefined>(undefined)
  const [state, setState] = useState<ConnectionState>('connecting')
  const [detail, setDetail] = useState<string>('')
  const [stats, setStats] = useState<VideoStats | undefined>()

  useEffect(() => {
    if (!roomId) return
    const connection = new ViewerConnection({
      signalingUrl: signalingUrl(),
      roomId,
      password,
      token: link.token,
      role: link.role,
      allowInsecurePassword: link.insecure,
      ...(link.relay && { iceTransportPolicy: 'relay' as const }),
      onState: (next, why) => {
        setState(next)
        setDetail(why ?? '')
        if (window.smoldesk) {
          window.smoldesk.state = next
          window.smoldesk.detail = why ?? ''
        }
      },
      onRole: (given) => {
        setRole(given)
        if (window.smoldesk) window.smoldesk.role = given
        // A view-only viewer watches: its input is not even captured.
        if (given === 'view-only') detachInput?.()
      },
      onCursor: (cursor) => captureRef.current?.setCursor(cursor),
      onStream: (stream) => {
        const video = videoRef.current
        if (video && video.srcObject !== stream) video.srcObject = stream
      },
    })
    window.smoldesk = { connection, stats: undefined, state: 'connecting', detail: '', role: undefined }
    const capture = videoRef.current
      ? new InputCapture(videoRef.current, (frame, motion) => connection.sendInput(frame, motion))
      : undefined
    captureRef.current = capture
    const detachInput = capture?.attach()
    connection.connect().catch((err: unknown) => {
      setState('failed')
      setDetail(err instanceof Error ? err.message : String(err))
    })
    const sampler = new StatsSampler()
    const timer = setInterval(async () => {
      const pc = connection.peerConnection
      if (!pc) return
      const sample = await sampler.sample(pc)
      setStats(sample)
      if (window.smoldesk) window.smoldesk.stats = sample
    }, 1000)
    return () => {
      clearInterval(timer)
      detachInput?.()
      connection.close()
    }
  }, [roomId, password, link])

  if (!roomId) {
    return (
      <main style={styles.page}>
        <h1>SmolDesk</h1>
        <p>Open the link the host printed: it carries the room code (…/?room=CODE).</p>
      </main>
    )
  }
  return (
    <main style={styles.page}>
      <p role="status" style={styles.status}>
        {STATE_WORDS[state]}
        {detail ? ` — ${detail}` : ''}
        {role === 'view-only' ? ' (view only)' : ''}
      </p>
      {state === 'failed' && /^(UNAUTHORIZED|INSECURE_TRANSPORT)/.test(detail) && (
        <form
          style={styles.status}
          onSubmit={(ev) => {
            ev.preventDefault()
            setPassword(passwordDraft)
          }}
        >
          <label>
            Room password:{' '}
            <input
              type="password"
              autoComplete="current-password"
              value={passwordDraft}
              onChange={(ev) => setPasswordDraft(ev.target.value)}
            />
          </label>{' '}
          <button type="submit">Join</button>
        </form>
      )}
      <label style={styles.status}>
        Send keys:{' '}
        <select
          aria-label="Send special keys"
          value=""
          onChange={(ev) => {
            if (isSpecialKey(ev.target.value)) captureRef.current?.sendSpecial(ev.target.value)
          }}
        >
          <option value="">choose…</option>
          {Object.keys(SPECIAL_KEYS).map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <button type="button" style={styles.button} onClick={() => captureRef.current?.lockPointer()}>
        Lock pointer (relative mouse)
      </button>
      <button
        type="button"
        style={styles.button}
        onClick={async () => {
          // Fullscreen with Keyboard Lock: Alt+Tab, Escape and the like go to the remote desktop.
          await videoRef.current?.requestFullscreen()
          const keyboard = (navigator as Navigator & { keyboard?: { lock(): Promise<void> } }).keyboard
          await keyboard?.lock().catch(() => {})
        }}
      >
        Fullscreen
      </button>
      <video ref={videoRef} autoPlay playsInline muted style={styles.video} aria-label="Remote desktop" />
      {stats && (
        <dl style={styles.stats} aria-label="Connection statistics">
          <dt>fps</dt>
          <dd>{stats.fps.toFixed(0)}</dd>
          <dt>bitrate</dt>
          <dd>{(stats.bitrateKbps / 1000).toFixed(2)} Mbit/s</dd>
          <dt>RTT</dt>
          <dd>{stats.rttMs === undefined ? '–' : `${stats.rttMs.toFixed(0)} ms`}</dd>
          <dt>jitter buffer</dt>
          <dd>
            {stats.jitterBufferDelayMs === undefined ? '–' : `${stats.jitterBufferDelayMs.toFixed(1)} ms`}
          </dd>
          <dt>decode</dt>
          <dd>{stats.decodeTimeMs === undefined ? '–' : `${stats.decodeTimeMs.toFixed(1)} ms`}</dd>
          <dt>resolution</dt>
          <dd>
            {stats.width}×{stats.height}
          </dd>
          <dt>codec</dt>
          <dd>{stats.codec}</dd>
          <dt>path</dt>
          <dd>{stats.candidatePairType ?? '–'}</dd>
        </dl>
      )}
    </main>
  )
}

const styles = {
  page: { margin: 0, padding: 8, background: '#111', color: '#eee', fontFamily: 'system-ui, sans-serif' },
  status: { margin: '0 0 8px' },
  button: { margin: '0 8px 8px 0' },
  video: { display: 'block', maxWidth: '100%', background: '#000' },
  stats: {
    display: 'grid',
    gridTemplateColumns: 'auto auto auto auto auto auto auto auto',
    gap: '2px 8px',
    fontSize: 12,
    margin: '8px 0 0',
  },
} as const
