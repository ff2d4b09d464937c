import type { TransferInfo } from '@smoldesk/protocol'
import type { ViewerFiles } from './files.ts'

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`
}

/** Every transfer with its progress and the buttons its state allows. */
export function TransferList({ transfers, files }: { transfers: TransferInfo[]; files: ViewerFiles }) {
  if (transfers.length === 0) return null
  return (
    <ul aria-label="File transfers" style={{ listStyle: 'none', padding: 0, margin: '0 0 8px' }}>
      {transfers.map((t) => {
        const incoming = t.direction === 'host-to-viewer'
        return (
          <li key={t.id} data-transfer-id={t.id} data-state={t.state} style={{ margin: '4px 0' }}>
            {incoming ? '⬇' : '⬆'} {t.name} — {megabytes(t.transferred)} of {megabytes(t.size)} ({t.state}){' '}
            <progress
              max={t.size || 1}
              value={t.size === 0 ? 1 : t.transferred}
              aria-label={`${t.name} progress`}
            />{' '}
            {incoming && t.state === 'pending' && (
              <>
                <button type="button" onClick={() => void files.accept(t.id)}>
                  Accept
                </button>{' '}
                <button type="button" onClick={() => files.reject(t.id)}>
                  Reject
                </button>
              </>
            )}
            {t.state === 'active' && (
              <button type="button" onClick={() => files.pause(t.id)}>
                Pause
              </button>
            )}
            {t.state === 'paused' && (
              <button type="button" onClick={() => files.resume(t.id)}>
                Resume
              </button>
            )}{' '}
            {['pending', 'active', 'paused', 'interrupted'].includes(t.state) &&
              !(incoming && t.state === 'pending') && (
                <button type="button" onClick={() => files.cancel(t.id)}>
                  Cancel
                </button>
              )}
            {t.error && <span> — {t.error}</span>}
          </li>
        )
      })}
    </ul>
  )
}
