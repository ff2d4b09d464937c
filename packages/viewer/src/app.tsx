import { CLIPBOARD_CHANNEL, FILES_CHANNEL, type RoomRole, type TransferInfo } from '@smoldesk/protocol'
import { useEffect, useRef, useState } from 'react'
import { type RemoteClipboard, ViewerClipboard } from './clipboard.ts'
import { type ConnectionState, ViewerConnection } from './connection.ts'
import { ViewerFiles } from './files.ts'
import { InputCapture } from './input.ts'
import { isSpecialKey, SPECIAL_KEYS } from './special-keys.ts'
import { StatsSampler, type VideoStats } from './stats.ts'
import { TransferList } from './transfer-list.tsx'

declare global {
  interface Window {
    /** For tests and debugging: the live connection and the last stats sample. */
    smoldesk?: {
      connection: ViewerConnection
      stats: VideoStats | undefined
      state: ConnectionState
      detail: string
      role: RoomRole | undefined
      files: ViewerFiles
      clipboard: ViewerClipboard
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
  const [transfers, setTransfers] = useState<TransferInfo[]>([])
  const [remoteClip, setRemoteClip] = useState<RemoteClipboard | undefined>()
  const [clipNote, setClipNote] = useState('')
  const [dragging, setDragging] = useState(false)
  // Transfers and the clipboard outlive connections (a reconnect resumes them), so they live as long as the page.
  const [files] = useState(
    () =>
      new ViewerFiles({
        onChange: setTransfers,
        onDownload: (name, blob) => offerDownload(name, blob),
      }),
  )
  const [clipboard] = useState(
    () =>
      new ViewerClipboard({
        onRemote: (remote) => setRemoteClip({ ...remote }),
        onError: (message) => setClipNote(message),
      }),
  )

  useEffect(() => {
    if (!roomId) return
    const connection = new ViewerConnection({
      channels: { [CLIPBOARD_CHANNEL]: clipboard, [FILES_CHANNEL]: files },
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
    window.smoldesk = {
      connection,
      stats: undefined,
      state: 'connecting',
      detail: '',
      role: undefined,
      files,
      clipboard,
    }
    // Whatever the user copied elsewhere goes to the host when they come back to this page.
    const syncClipboard = () => {
      if (window.smoldesk?.role === 'view-only') return
      void clipboard.syncFromBrowser().then((result) => {
        if (result.why) setClipNote(`Clipboard not sent: ${result.why}`)
      })
    }
    window.addEventListener('focus', syncClipboard)
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
      window.removeEventListener('focus', syncClipboard)
      detachInput?.()
      connection.close()
    }
  }, [roomId, password, link, files, clipboard])

  if (!roomId) {
    return (
      <main style={styles.page}>
        <h1>SmolDesk</h1>
        <p>Open the link the host printed: it carries the room code (…/?room=CODE).</p>
      </main>
    )
  }
  const sendFiles = (list: FileList | null) => {
    for (const file of Array.from(list ?? [])) {
      try {
        files.sendFile(file, file.name)
      } catch (err) {
        setClipNote(`Cannot send ${file.name}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }
  const canShare = role !== 'view-only'
  return (
    <main
      style={{ ...styles.page, ...(dragging && styles.dragging) }}
      onDragOver={(ev) => {
        if (!canShare) return
        ev.preventDefault()
        setDragging(true)
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(ev) => {
        ev.preventDefault()
        setDragging(false)
        if (canShare) sendFiles(ev.dataTransfer.files)
      }}
    >
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
      {canShare && (
        <label style={styles.button}>
          Send files to the host (or drop them here):{' '}
          <input type="file" multiple aria-label="Send files" onChange={(ev) => sendFiles(ev.target.files)} />
        </label>
      )}
      {canShare && (
        <button
          type="button"
          style={styles.button}
          onClick={async () => {
            const result = await clipboard.syncFromBrowser()
            setClipNote(
              result.why ? `Clipboard not sent: ${result.why}` : result.sent ? 'Clipboard sent' : '',
            )
          }}
        >
          Send my clipboard
        </button>
      )}
      {remoteClip && (
        <p style={styles.status} data-testid="host-clipboard">
          Host clipboard:{' '}
          {remoteClip.content.kind === 'text'
            ? `“${remoteClip.content.text.slice(0, 80)}${remoteClip.content.text.length > 80 ? '…' : ''}”`
            : `an image (${remoteClip.content.png.length} bytes)`}{' '}
          {remoteClip.copied ? (
            '— copied to your clipboard'
          ) : (
            <button type="button" onClick={() => void clipboard.copyRemoteToBrowser()}>
              Copy to my clipboard
            </button>
          )}
        </p>
      )}
      {clipNote && <p style={styles.status}>{clipNote}</p>}
      <TransferList transfers={transfers} files={files} />
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

/** Offers a verified download to the browser: a click on a temporary link saves it. */
function offerDownload(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.click()
  // The browser has read the Blob once the download started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

const styles = {
  page: { margin: 0, padding: 8, background: '#111', color: '#eee', fontFamily: 'system-ui, sans-serif' },
  dragging: { outline: '3px dashed #6af', outlineOffset: -3 },
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
