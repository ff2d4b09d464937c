import {
  CLIPBOARD_CHANNEL,
  FILES_CHANNEL,
  type RoomRole,
  SESSION_CHANNEL,
  type SessionState,
  SmolDeskError,
  type TransferInfo,
} from '@smoldesk/protocol'
import { useEffect, useRef, useState } from 'react'
import { adviceFor } from './advice.ts'
import { type RemoteClipboard, ViewerClipboard } from './clipboard.ts'
import { decodableCodecs } from './codecs.ts'
import { type ConnectionState, ViewerConnection } from './connection.ts'
import { ViewerFiles } from './files.ts'
import { InputCapture } from './input.ts'
import { Landing } from './landing.tsx'
import { RemoteSizeFollower } from './remote-size.ts'
import { ViewerSession } from './session.ts'
import { loadSettings, type Settings, saveSettings } from './settings.ts'
import { StatsSampler, type VideoStats } from './stats.ts'
import { StatsOverlay } from './stats-overlay.tsx'
import { Toolbar } from './toolbar.tsx'
import { TransferList } from './transfer-list.tsx'
import { NO_ZOOM, panBy, type ViewTransform, videoStyle, zoomAbout } from './view.ts'

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
      session: ViewerSession
      remoteSize?: RemoteSizeFollower
    }
  }
}

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

/**
 * What the link says: `?room=CODE` (and optionally `role=view-only`,
 * `relay=1` to force TURN, `insecure=1` to allow a password over plain
 * HTTP), and `#token=JWT` in the fragment, which browsers never send to a
 * server.
 */
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

function signalingUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}/signal`
}

/** The toolbar hides after this long without the pointer near it. */
const TOOLBAR_HIDE_MS = 2500
/** The pointer this close to the top edge brings the toolbar back. */
const TOOLBAR_REVEAL_PX = 48

export function App() {
  const [link] = useState(linkParams)
  if (!link.roomId) {
    return (
      <Landing
        onJoin={(room, fragment) => {
          location.assign(`${location.pathname}?room=${encodeURIComponent(room)}${fragment}`)
        }}
      />
    )
  }
  return <Viewer link={link} />
}

function Viewer({ link }: { link: ReturnType<typeof linkParams> }) {
  const { roomId } = link
  const [password, setPassword] = useState<string | undefined>(undefined)
  const [passwordDraft, setPasswordDraft] = useState('')
  const [role, setRole] = useState<RoomRole | undefined>(undefined)
  const videoRef = useRef<HTMLVideoElement>(null)
  const stageRef = useRef<HTMLDivElement>(null)
  const keyboardRef = useRef<HTMLTextAreaElement>(null)
  const captureRef = useRef<InputCapture | undefined>(undefined)
  const connectionRef = useRef<ViewerConnection | undefined>(undefined)
  const [state, setState] = useState<ConnectionState>('connecting')
  const [detail, setDetail] = useState<string>('')
  const [stats, setStats] = useState<VideoStats | undefined>()
  const [transfers, setTransfers] = useState<TransferInfo[]>([])
  const [remoteClip, setRemoteClip] = useState<RemoteClipboard | undefined>()
  const [note, setNote] = useState('')
  const [dragging, setDragging] = useState(false)
  const [sessionState, setSessionState] = useState<SessionState | undefined>()
  const [settings, setSettings] = useState<Settings>(loadSettings)
  const settingsRef = useRef(settings)
  settingsRef.current = settings
  const [view, setView] = useState<ViewTransform>(NO_ZOOM)
  const viewRef = useRef(view)
  viewRef.current = view
  const [videoSize, setVideoSize] = useState({ width: 0, height: 0 })
  const [toolbarHidden, setToolbarHidden] = useState(false)
  const [userClosed, setUserClosed] = useState(false)
  const update = (change: Partial<Settings>) => {
    const next = { ...settingsRef.current, ...change }
    setSettings(next)
    saveSettings(next)
  }
  // Transfers, the clipboard and the session outlive connections (a reconnect resumes them): page-long.
  const [files] = useState(
    () => new ViewerFiles({ onChange: setTransfers, onDownload: (name, blob) => offerDownload(name, blob) }),
  )
  const [clipboard] = useState(
    () =>
      new ViewerClipboard({
        onRemote: (remote) => setRemoteClip({ ...remote }),
        onError: (message) => setNote(message),
      }),
  )
  const [session] = useState(() => new ViewerSession(setSessionState))
  const [decodable] = useState(decodableCodecs)

  useEffect(() => {
    const connection = new ViewerConnection({
      channels: { [CLIPBOARD_CHANNEL]: clipboard, [FILES_CHANNEL]: files, [SESSION_CHANNEL]: session },
      signalingUrl: signalingUrl(),
      roomId,
      password,
      token: link.token,
      rejoinToken: () => session.state?.rejoin_token,
      role: link.role,
      allowInsecurePassword: link.insecure,
      ...(link.relay && { iceTransportPolicy: 'relay' as const }),
      onState: (next, why) => {
        setState(next)
        setDetail(why ?? '')
        if (next === 'connected' && why?.startsWith('CODEC_UNSUPPORTED'))
          setNote(`${why}. Clipboard and files still work.`)
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
    connectionRef.current = connection
    session.onBye = (code, message) => connection.end(code, message)
    window.smoldesk = {
      connection,
      stats: undefined,
      state: 'connecting',
      detail: '',
      role: undefined,
      files,
      clipboard,
      session,
    }
    // Whatever the user copied elsewhere goes to the host when they come back to this page.
    const syncClipboard = () => {
      if (window.smoldesk?.role === 'view-only') return
      void clipboard.syncFromBrowser().then((result) => {
        if (result.why) setNote(`Clipboard not sent: ${result.why}`)
      })
    }
    window.addEventListener('focus', syncClipboard)
    const video = videoRef.current
    const capture = video
      ? new InputCapture(
          video,
          (frame, motion) => {
            if (settingsRef.current.inputOn) connection.sendInput(frame, motion)
          },
          {
            onLeave: () => {
              setToolbarHidden(false)
              document.querySelector<HTMLElement>('.toolbar select, .toolbar button')?.focus()
            },
            mode: () => settingsRef.current.touchMode,
            zoomed: () => viewRef.current.zoom > 1,
            onZoom: (factor, at) => {
              const box = stageRef.current?.getBoundingClientRect()
              if (!box) return
              setView((v) => zoomAbout(v, factor, { x: at.x - box.left, y: at.y - box.top }, box))
            },
            onPan: (dx, dy) => {
              const box = stageRef.current?.getBoundingClientRect()
              if (box) setView((v) => panBy(v, dx, dy, box))
            },
          },
        )
      : undefined
    captureRef.current = capture
    const detachInput = capture?.attach()
    connection.connect().catch((err: unknown) => {
      const error = SmolDeskError.from(err)
      setState('failed')
      setDetail(`${error.code}: ${error.message}`)
    })
    const sampler = new StatsSampler()
    const timer = setInterval(async () => {
      const pc = connection.peerConnection
      if (!pc) return
      const sample = await sampler.sample(pc)
      setStats(sample)
      if (window.smoldesk) window.smoldesk.stats = sample
    }, 1000)
    // Leaving the page (closing the tab, going elsewhere) is leaving the room, said at once: the host
    // then frees what this viewer held (its monitor size, its input) instead of waiting out the
    // signaling server's resume grace for a connection that only dropped.
    const leave = () => connection.close()
    window.addEventListener('pagehide', leave)
    return () => {
      clearInterval(timer)
      window.removeEventListener('focus', syncClipboard)
      window.removeEventListener('pagehide', leave)
      detachInput?.()
      connection.close()
    }
  }, [roomId, password, link, files, clipboard, session])

  // The on-screen keyboard's text: the native beforeinput event (React's onBeforeInput drops spaces).
  useEffect(() => {
    const sink = keyboardRef.current
    if (!sink) return
    const onInput = (ev: InputEvent) => {
      // An input method's text is typed when it is composed, not while (see compositionend).
      if (ev.isComposing || ev.inputType === 'insertCompositionText') return
      ev.preventDefault()
      if (ev.data) captureRef.current?.sendText(ev.data)
    }
    const onComposed = (ev: CompositionEvent) => {
      if (ev.data) captureRef.current?.sendText(ev.data)
      sink.value = ''
    }
    sink.addEventListener('beforeinput', onInput)
    sink.addEventListener('compositionend', onComposed)
    return () => {
      sink.removeEventListener('beforeinput', onInput)
      sink.removeEventListener('compositionend', onComposed)
    }
  }, [])

  // The remote monitor follows this window's size while connected, allowed and wanted.
  const resizeAllowed = sessionState?.resize === 'allowed'
  useEffect(() => {
    const stage = stageRef.current
    if (!stage || state !== 'connected' || !resizeAllowed || !settings.fitRemote) return
    const follower = new RemoteSizeFollower(stage, (size) => session.request({ type: 'resize', ...size }))
    follower.start()
    if (window.smoldesk) window.smoldesk.remoteSize = follower
    return () => follower.stop()
  }, [state, resizeAllowed, settings.fitRemote, session])

  // The toolbar: shown while not connected, near the top edge, or holding focus; hidden otherwise.
  useEffect(() => {
    if (state !== 'connected') {
      setToolbarHidden(false)
      return
    }
    let timer = setTimeout(() => setToolbarHidden(true), TOOLBAR_HIDE_MS)
    const onMove = (ev: PointerEvent) => {
      if (ev.pointerType === 'touch') return
      if (ev.clientY > TOOLBAR_REVEAL_PX && (ev.target as Element | null)?.closest('.toolbar')) return
      if (ev.clientY <= TOOLBAR_REVEAL_PX) setToolbarHidden(false)
      clearTimeout(timer)
      timer = setTimeout(() => {
        if (!document.activeElement?.closest('.toolbar')) setToolbarHidden(true)
      }, TOOLBAR_HIDE_MS)
    }
    const onFocus = (ev: FocusEvent) => {
      if ((ev.target as Element | null)?.closest?.('.toolbar')) setToolbarHidden(false)
    }
    document.addEventListener('pointermove', onMove)
    document.addEventListener('focusin', onFocus)
    return () => {
      clearTimeout(timer)
      document.removeEventListener('pointermove', onMove)
      document.removeEventListener('focusin', onFocus)
    }
  }, [state])

  const sendFiles = (list: FileList | null) => {
    for (const file of Array.from(list ?? [])) {
      try {
        files.sendFile(file, file.name)
      } catch (err) {
        setNote(`Cannot send ${file.name}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }
  const ask = (what: Promise<void>) =>
    what.then(
      () => setNote(''),
      (err: unknown) => {
        const error = SmolDeskError.from(err)
        setNote(`The host refused: ${error.code}: ${error.message}`)
      },
    )
  // The room's role at joining, and the host's word since (it may demote or promote a viewer live).
  const canShare = role !== 'view-only' && sessionState?.can_control !== false
  const advice = adviceFor(state, detail)
  const connected = state === 'connected'
  const style = videoStyle(settings.viewMode, videoSize, window.devicePixelRatio || 1, view)
  return (
    <main
      className={`viewer${dragging ? ' dragging' : ''}`}
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
      <Toolbar
        hidden={toolbarHidden}
        session={sessionState}
        decodable={decodable}
        receivingCodec={stats?.codec}
        canShare={canShare}
        viewMode={settings.viewMode}
        onViewMode={(viewMode) => {
          update({ viewMode })
          setView(NO_ZOOM)
        }}
        touchMode={settings.touchMode}
        onTouchMode={(touchMode) => update({ touchMode })}
        inputOn={settings.inputOn}
        onInputOn={(inputOn) => {
          if (!inputOn) captureRef.current?.releaseAll() // before the switch: it still goes out
          update({ inputOn })
        }}
        showStats={settings.showStats}
        onShowStats={(showStats) => update({ showStats })}
        fitRemote={settings.fitRemote}
        onFitRemote={(fitRemote) => update({ fitRemote })}
        onMonitor={(index) => void ask(session.request({ type: 'select-monitor', monitor_index: index }))}
        onStream={(change) =>
          void ask(
            session.request({
              type: 'set-stream',
              ...(change.preset && { preset: change.preset }),
              ...(change.codec && { codec: change.codec }),
              ...(change.hardware_acceleration && { hardware_acceleration: change.hardware_acceleration }),
            }),
          )
        }
        onSpecialKey={(key) => captureRef.current?.sendSpecial(key)}
        onKeyboard={() => keyboardRef.current?.focus()}
        onFullscreen={async () => {
          // Fullscreen with Keyboard Lock: Alt+Tab, Escape and the like go to the remote desktop.
          await document.documentElement.requestFullscreen().catch(() => {})
          const keyboard = (navigator as Navigator & { keyboard?: { lock(): Promise<void> } }).keyboard
          await keyboard?.lock().catch(() => {})
        }}
        onPointerLock={() => captureRef.current?.lockPointer()}
        onSendClipboard={async () => {
          const result = await clipboard.syncFromBrowser()
          setNote(result.why ? `Clipboard not sent: ${result.why}` : result.sent ? 'Clipboard sent' : '')
        }}
        onFiles={sendFiles}
        onDisconnect={() => {
          setUserClosed(true)
          connectionRef.current?.close()
        }}
      />
      {toolbarHidden && (
        <button type="button" className="toolbar-handle" onClick={() => setToolbarHidden(false)}>
          Menu
        </button>
      )}
      {!connected && (
        <section className="status" role="status" aria-live="polite">
          <h2>{userClosed ? 'You disconnected' : advice.headline}</h2>
          {!userClosed && advice.code && <p className="code">{advice.code}</p>}
          {!userClosed && advice.detail && <p>{advice.detail}</p>}
          {!userClosed && advice.action && <p className="action">{advice.action}</p>}
          {userClosed && (
            <button type="button" onClick={() => location.reload()}>
              Connect again
            </button>
          )}
          {advice.askPassword && !userClosed && (
            <form
              onSubmit={(ev) => {
                ev.preventDefault()
                setPassword(passwordDraft)
              }}
            >
              <label htmlFor="room-password">Room password</label>
              <input
                id="room-password"
                type="password"
                autoComplete="current-password"
                value={passwordDraft}
                onChange={(ev) => setPasswordDraft(ev.target.value)}
              />
              <button type="submit">Join</button>
            </form>
          )}
        </section>
      )}
      {connected && !canShare && <p className="badge">View only</p>}
      <div className={`stage stage-${settings.viewMode}`} ref={stageRef}>
        <video
          ref={videoRef}
          autoPlay
          playsInline
          muted
          aria-label="Remote desktop"
          style={style}
          onResize={(ev) =>
            setVideoSize({ width: ev.currentTarget.videoWidth, height: ev.currentTarget.videoHeight })
          }
        />
      </div>
      {settings.showStats && stats && <StatsOverlay stats={stats} stream={sessionState?.stream} />}
      <aside className="panels">
        {remoteClip && (
          <p data-testid="host-clipboard">
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
        {note && (
          <p className="note" role="alert">
            {note}
          </p>
        )}
        <TransferList transfers={transfers} files={files} />
      </aside>
      {/* The on-screen keyboard: focusing this brings up a phone's keyboard; what it types goes to the host. */}
      <textarea
        ref={keyboardRef}
        className="keyboard-sink"
        aria-label="On-screen keyboard input"
        autoCapitalize="off"
        autoComplete="off"
        spellCheck={false}
        value=""
        onChange={() => {}}
        onKeyDown={(ev) => {
          const code = { Backspace: 'Backspace', Enter: 'Enter', Tab: 'Tab', Escape: 'Escape' }[ev.key]
          if (!code) return
          ev.preventDefault()
          captureRef.current?.tapKey(code)
        }}
      />
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
