import { SmolDeskError } from '@smoldesk/protocol'
import type { HostOptions } from '../options.ts'

/** Clipboard and file options of `host` and `start`. */
export const SHARING_OPTIONS = {
  'download-dir': { type: 'string' },
  'max-file-mb': { type: 'string' },
  'auto-accept-files': { type: 'boolean' },
  'clipboard-max-mb': { type: 'string' },
  /** Viewers may give a display of yours their window's size (virtual monitors only). */
  'allow-viewer-resize': { type: 'boolean' },
  /** …and SmolDesk's own embedded desktop keeps its size. */
  'no-viewer-resize': { type: 'boolean' },
} as const

export type SharingOptions = Pick<
  HostOptions,
  'downloadDir' | 'maxTransferBytes' | 'autoAcceptTransfers' | 'clipboardMaxBytes' | 'viewerResize'
>

function megabytes(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const mb = Number(value)
  if (!Number.isFinite(mb) || mb <= 0 || mb > 1024 * 1024) {
    throw new SmolDeskError('INVALID_ARGS', `${flag} is a size in MB (for example 100 or 0.5)`)
  }
  return Math.floor(mb * 1024 * 1024)
}

export function sharingOptions(values: {
  'download-dir'?: string
  'max-file-mb'?: string
  'auto-accept-files'?: boolean
  'clipboard-max-mb'?: string
  'allow-viewer-resize'?: boolean
  'no-viewer-resize'?: boolean
}): SharingOptions {
  if (values['allow-viewer-resize'] && values['no-viewer-resize'])
    throw new SmolDeskError(
      'INVALID_ARGS',
      '--allow-viewer-resize and --no-viewer-resize contradict each other',
    )
  return {
    downloadDir: values['download-dir'],
    maxTransferBytes: megabytes(values['max-file-mb'], '--max-file-mb'),
    autoAcceptTransfers: values['auto-accept-files'] ?? false,
    clipboardMaxBytes: megabytes(values['clipboard-max-mb'], '--clipboard-max-mb'),
    // undefined: the default of the display (yes for start's embedded desktop, no for yours).
    viewerResize: values['allow-viewer-resize'] ? true : values['no-viewer-resize'] ? false : undefined,
  }
}
