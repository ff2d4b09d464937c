/*
 * A name a peer sent becomes a file name in the download folder: one
 * component, nothing that climbs out, nothing that a shell or another OS
 * reads as special. The peer's name is only a suggestion.
 */

/** Windows device names: harmless on Linux, but the file may be copied to a share or a USB stick. */
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i
const MAX_NAME_BYTES = 255
const FALLBACK = 'download'

export function sanitizeFileName(suggested: string): string {
  // Only the last path component, whatever the separator.
  let name = suggested.split(/[/\\]/).pop() ?? ''
  name = name
    .normalize('NFC')
    // Control characters (NUL, newline, escape…) and the characters other systems forbid.
    .replace(/[\p{Cc}<>:"|?*]/gu, '_')
    // Bidirectional overrides would let "exe.txt" display as "txt.exe".
    .replace(/[\u202a-\u202e\u2066-\u2069]/g, '_')
    .trim()
    // No trailing dots or spaces (Windows drops them), no hidden files, no option-like names.
    .replace(/[. ]+$/, '')
    .replace(/^[.\-~]+/, '')
  if (name === '') name = FALLBACK
  if (RESERVED.test(name)) name = `_${name}`
  return truncateUtf8(name, MAX_NAME_BYTES)
}

/** `name (1).ext`, `name (2).ext`, … for the n-th collision; the extension stays last. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name
  const dot = name.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  const suffix = ` (${n})${ext}`
  return truncateUtf8(stem, MAX_NAME_BYTES - Buffer.byteLength(suffix)) + suffix
}

/** Cuts to at most `bytes` of UTF-8, keeping the extension and never splitting a character. */
function truncateUtf8(name: string, bytes: number): string {
  if (Buffer.byteLength(name) <= bytes) return name
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : ''
  let stem = name.slice(0, name.length - ext.length)
  const budget = bytes - Buffer.byteLength(ext)
  while (Buffer.byteLength(stem) > budget) stem = Array.from(stem).slice(0, -1).join('')
  return stem + ext
}
