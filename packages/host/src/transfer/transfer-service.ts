import { homedir } from 'node:os'
import { join } from 'node:path'
import { type TransferInfo, TransferManager } from '@smoldesk/protocol'
import type { EmitEvent } from '../events.ts'
import { createLogger } from '../log.ts'
import type { ViewerRoster } from '../viewers/viewer-roster.ts'
import { DiskSink, DiskSource, sha256Hasher } from './disk-storage.ts'

const log = createLogger('transfer')

export interface TransferServiceOptions {
  /** Where received files go; default $XDG_DOWNLOAD_DIR/SmolDesk or ~/Downloads/SmolDesk. */
  downloadDir?: string | undefined
  /** Largest file a viewer may send (default 100 MB). */
  maxBytes?: number | undefined
  /** Accept viewers' files without asking (default: ask, via accept_transfer). */
  autoAccept?: boolean | undefined
  /** Who may send us files / be sent files: each viewer's permissions. */
  roster: Pick<ViewerRoster, 'permissions'>
  emit: EmitEvent
}

export const TRANSFER_DEFAULT_MAX_BYTES = 100 * 1024 * 1024

export function defaultDownloadDir(): string {
  return join(process.env.XDG_DOWNLOAD_DIR ?? join(homedir(), 'Downloads'), 'SmolDesk')
}

/**
 * Files between the host and its viewers: the shared transfer engine with
 * files on disk, its events turned into the IPC events
 * (transfer-offered/-started/-progress/-completed/-error). Accept, reject,
 * pause, resume, cancel and list are the engine's own.
 */
export class TransferService extends TransferManager {
  readonly downloadDir: string

  constructor(options: TransferServiceOptions) {
    const downloadDir = options.downloadDir ?? defaultDownloadDir()
    const emit = options.emit
    super({
      side: 'host',
      maxBytes: options.maxBytes ?? TRANSFER_DEFAULT_MAX_BYTES,
      autoAccept: options.autoAccept ?? false,
      allowed: (peerId, what) =>
        options.roster.permissions(peerId)[what === 'send' ? 'file_download' : 'file_upload'],
      hasher: sha256Hasher,
      openSink: ({ id, name, size }) => DiskSink.open(downloadDir, id, name, size),
      onRefused: ({ peerId, id, code, message }) =>
        log.info({ peer: peerId, id, code, message }, 'peer message refused'),
      onEvent: (event) => {
        const { info } = event
        const ref = { transferId: info.id, name: info.name }
        switch (event.type) {
          case 'started':
            log.info(
              { id: info.id, name: info.name, size: info.size, direction: info.direction },
              'transfer started',
            )
            emit('transfer-started', { ...ref, size: info.size, direction: info.direction })
            return
          case 'progress':
            emit('transfer-progress', {
              ...ref,
              bytes: info.transferred,
              size: info.size,
              rate_bytes_per_s: Math.round(event.rateBytesPerS),
              eta_s: event.etaS === null ? null : Math.round(event.etaS * 10) / 10,
            })
            return
          case 'completed':
            log.info({ id: info.id, path: info.path, sha256: info.sha256 }, 'transfer completed')
            emit('transfer-completed', { ...ref, sha256: info.sha256 ?? '' })
            return
          case 'error':
            log.warn({ id: info.id, code: event.code, message: event.message }, 'transfer failed')
            emit('transfer-error', { ...ref, code: event.code, message: event.message })
            return
          case 'offered':
            log.info({ id: info.id, name: info.name, size: info.size, peer: info.peer_id }, 'file offered')
            emit('transfer-offered', { ...ref, size: info.size, peer_id: info.peer_id })
            return
          case 'changed':
            // State changes are few (accepted, paused, interrupted, resumed): worth a line each.
            log.info({ id: info.id, state: info.state, bytes: info.transferred }, 'transfer state')
            return
          default:
            return
        }
      },
    })
    this.downloadDir = downloadDir
  }

  async sendFile(path: string, peerId: string): Promise<TransferInfo> {
    const source = await DiskSource.open(path)
    try {
      return this.send(peerId, source.name, source)
    } catch (err) {
      await source.close()
      throw err
    }
  }
}
