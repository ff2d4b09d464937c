import { useEffect, useRef, useState, useSyncExternalStore } from 'react'
import { IdentityNote } from './identity-note.tsx'
import { KeyboardSink } from './keyboard-sink.tsx'
import { Landing } from './landing.tsx'
import { type LinkParams, linkParams } from './link-params.ts'
import { MicrophoneButton, SpeakerControl } from './sound-controls.tsx'
import { StatsOverlay } from './stats-overlay.tsx'
import { StatusPanel } from './status-panel.tsx'
import { Toolbar } from './toolbar.tsx'
import { useToolbarAutoHide } from './toolbar-autohide.ts'
import { TransferList } from './transfer-list.tsx'
import { videoStyle } from './view.ts'
import { ViewerApp, type ViewerSnapshot } from './viewer-app.ts'

/*
 * The viewer page. Everything it shows comes from one ViewerApp model
 * (viewer-app.ts, plain TypeScript); the components here render its
 * snapshot and call its methods, nothing more.
 */

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

const noSubscription = () => () => {}

/** The page's model, made when the page mounts and closed when it goes (StrictMode mounts twice). */
function useViewerApp(
  link: LinkParams,
  mount: (app: ViewerApp) => void,
): [ViewerApp | undefined, ViewerSnapshot | undefined] {
  const [app, setApp] = useState<ViewerApp | undefined>()
  const mountRef = useRef(mount)
  mountRef.current = mount
  useEffect(() => {
    const made = new ViewerApp(link, offerDownload)
    mountRef.current(made)
    made.start()
    setApp(made)
    return () => made.close()
  }, [link])
  const snapshot = useSyncExternalStore(app?.subscribe ?? noSubscription, () => app?.getSnapshot())
  return [app, snapshot]
}

function Viewer({ link }: { link: LinkParams }) {
  const videoRef = useRef<HTMLVideoElement>(null)
  const stageRef = useRef<HTMLDivElement>(null)
  const keyboardRef = useRef<HTMLTextAreaElement>(null)
  const [dragging, setDragging] = useState(false)
  const [videoSize, setVideoSize] = useState({ width: 0, height: 0 })
  const [app, snap] = useViewerApp(link, (made) => {
    const video = videoRef.current
    const stage = stageRef.current
    if (!video || !stage) return
    made.attachInput(video, stage, () => {
      setToolbarHidden(false)
      document.querySelector<HTMLElement>('.toolbar select, .toolbar button')?.focus()
    })
  })
  const connected = snap?.status.state === 'connected'
  const [toolbarHidden, setToolbarHidden] = useToolbarAutoHide(connected)

  // The received stream plays in the one video element.
  const stream = snap?.stream
  useEffect(() => {
    const video = videoRef.current
    if (video && stream && video.srcObject !== stream) video.srcObject = stream
  }, [stream])

  // The remote monitor follows this window's size while connected, allowed and wanted.
  const follow = connected && snap?.host?.resize === 'allowed' && snap.settings.fitRemote
  useEffect(() => {
    const stage = stageRef.current
    if (!app || !stage || !follow) return
    return app.followSize(stage)
  }, [app, follow])

  const settings = snap?.settings
  // The room's role at joining, and the host's word since (it may demote or promote a viewer live).
  const canShare = snap?.role !== 'view-only' && snap?.host?.can_control !== false
  const style = settings && videoStyle(settings.viewMode, videoSize, window.devicePixelRatio || 1, snap.view)
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
        if (canShare) app?.sendFiles(ev.dataTransfer.files)
      }}
    >
      {app && snap && settings && (
        <Toolbar
          hidden={toolbarHidden}
          sound={
            <>
              <SpeakerControl
                state={snap.sound.state}
                volume={snap.sound.volume}
                hostSound={snap.host?.audio}
                onMuted={(muted) => app.setSound({ muted })}
                onVolume={(volume) => app.setSound({ volume })}
                onUnlock={() => app.sound.unlock()}
              />
              {canShare && (
                <MicrophoneButton
                  state={snap.microphone.state}
                  why={snap.microphone.why}
                  onToggle={() => void app.microphone.toggle()}
                />
              )}
              <IdentityNote identity={snap.identity} />
            </>
          }
          session={snap.host}
          decodable={app.decodable}
          receivingCodec={snap.stats?.codec}
          canShare={canShare}
          viewMode={settings.viewMode}
          onViewMode={(viewMode) => app.updateSettings({ viewMode })}
          touchMode={settings.touchMode}
          onTouchMode={(touchMode) => app.updateSettings({ touchMode })}
          inputOn={settings.inputOn}
          onInputOn={(inputOn) => app.updateSettings({ inputOn })}
          showStats={settings.showStats}
          onShowStats={(showStats) => app.updateSettings({ showStats })}
          fitRemote={settings.fitRemote}
          onFitRemote={(fitRemote) => app.updateSettings({ fitRemote })}
          onMonitor={(index) => app.request({ type: 'select-monitor', monitor_index: index })}
          onStream={(change) =>
            app.request({
              type: 'set-stream',
              ...(change.preset && { preset: change.preset }),
              ...(change.codec && { codec: change.codec }),
              ...(change.hardware_acceleration && { hardware_acceleration: change.hardware_acceleration }),
            })
          }
          onSpecialKey={(key) => app.input?.sendSpecial(key)}
          onKeyboard={() => keyboardRef.current?.focus()}
          onFullscreen={async () => {
            // Fullscreen with Keyboard Lock: Alt+Tab, Escape and the like go to the remote desktop.
            await document.documentElement.requestFullscreen().catch(() => {})
            const keyboard = (navigator as Navigator & { keyboard?: { lock(): Promise<void> } }).keyboard
            await keyboard?.lock().catch(() => {})
          }}
          onPointerLock={() => app.input?.lockPointer()}
          onSendClipboard={() => void app.sendClipboard()}
          onFiles={(list) => app.sendFiles(list ?? [])}
          onDisconnect={() => app.disconnect()}
        />
      )}
      {toolbarHidden && (
        <button type="button" className="toolbar-handle" onClick={() => setToolbarHidden(false)}>
          Menu
        </button>
      )}
      {snap && !connected && (
        <StatusPanel
          status={snap.status}
          userClosed={snap.userClosed}
          identity={snap.identity}
          onPassword={(password) => app?.joinWithPassword(password)}
        />
      )}
      {connected && !canShare && <p className="badge">View only</p>}
      {connected && snap.sound.state === 'blocked' && (
        <button type="button" className="sound-blocked" onClick={() => app?.sound.unlock()}>
          Your browser holds the host’s sound back until you click: click here (or anywhere) to hear it
        </button>
      )}
      <div className={`stage stage-${settings?.viewMode ?? 'fit'}`} ref={stageRef}>
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
      {snap?.settings.showStats && snap.stats && (
        <StatsOverlay stats={snap.stats} stream={snap.host?.stream} />
      )}
      {app && snap && (
        <aside className="panels">
          {snap.remoteClip && (
            <p data-testid="host-clipboard">
              Host clipboard:{' '}
              {snap.remoteClip.content.kind === 'text'
                ? `“${snap.remoteClip.content.text.slice(0, 80)}${snap.remoteClip.content.text.length > 80 ? '…' : ''}”`
                : `an image (${snap.remoteClip.content.png.length} bytes)`}{' '}
              {snap.remoteClip.copied ? (
                '— copied to your clipboard'
              ) : (
                <button type="button" onClick={() => void app.clipboard.copyRemoteToBrowser()}>
                  Copy to my clipboard
                </button>
              )}
            </p>
          )}
          {snap.note && (
            <p className="note" role="alert">
              {snap.note}
            </p>
          )}
          <TransferList transfers={snap.transfers} files={app.files} />
        </aside>
      )}
      <KeyboardSink input={() => app?.input} sinkRef={keyboardRef} />
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
