import { SmolDeskError } from '@smoldesk/protocol'
import type { HostOptions } from '../options.ts'

/** Clipboard and file options of `host` and `start`. */
export const SHARING_OPTIONS = {
  'download-dir': { type: 'string' },
  'max-file-mb': { type: 'string' },
  'auto-accept-files': { type: 'boolean' },
  'clipboard-max-mb': { type: 'string' },
} as const

export type SharingOptions = Pick<
  HostOptions,
  'downloadDir' | 'maxTransferBytes' | 'autoAcceptTransfers' | 'clipboardMaxBytes'
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
}): SharingOptions {
  return {
    downloadDir: values['download-dir'],
    maxTransferBytes: megabytes(values['max-file-mb'], '--max-file-mb'),
    autoAcceptTransfers: values['auto-accept-files'] ?? false,
    clipboardMaxBytes: megabytes(values['clipboard-max-mb'], '--clipboard-max-mb'),
  }
}
