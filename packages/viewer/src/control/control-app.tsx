import { SmolDeskError } from '@smoldesk/protocol'
import { useEffect, useState } from 'react'
import { Invite, Security, Viewers } from './access-sections.tsx'
import { type ControlState, HostControl } from './control-model.ts'
import type { SectionProps } from './section-props.ts'
import { Sharing } from './sharing-section.tsx'

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
