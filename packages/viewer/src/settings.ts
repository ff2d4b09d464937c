import type { TouchMode } from './touch.ts'
import type { ViewMode } from './view.ts'

/** What a viewer chose on this page; kept across reconnects and reloads (localStorage). */
export interface Settings {
  viewMode: ViewMode
  touchMode: TouchMode
  inputOn: boolean
  showStats: boolean
  /** The remote monitor takes this window's size (where the host allows it). */
  fitRemote: boolean
  /** The host's sound: volume 0–1, and muted. */
  volume: number
  muted: boolean
}

const KEY = 'smoldesk.viewer.settings'

export const DEFAULT_SETTINGS: Settings = {
  viewMode: 'fit',
  // Tap where you see: what a newcomer expects; trackpad mode (precise on a phone) is one switch away.
  touchMode: 'direct',
  inputOn: true,
  showStats: false,
  fitRemote: true,
  volume: 1,
  muted: false,
}

/** Stored settings, each field checked (storage is another page's to write too). */
export function loadSettings(): Settings {
  let stored: Record<string, unknown> = {}
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(KEY) ?? '{}')
    if (raw && typeof raw === 'object') stored = raw as Record<string, unknown>
  } catch {}
  const pick = <T>(value: unknown, allowed: readonly T[], fallback: T): T =>
    allowed.includes(value as T) ? (value as T) : fallback
  return {
    viewMode: pick(stored.viewMode, ['fit', 'actual', 'fill'] as const, DEFAULT_SETTINGS.viewMode),
    touchMode: pick(stored.touchMode, ['direct', 'trackpad'] as const, DEFAULT_SETTINGS.touchMode),
    inputOn: pick(stored.inputOn, [true, false] as const, DEFAULT_SETTINGS.inputOn),
    showStats: pick(stored.showStats, [true, false] as const, DEFAULT_SETTINGS.showStats),
    fitRemote: pick(stored.fitRemote, [true, false] as const, DEFAULT_SETTINGS.fitRemote),
    volume:
      typeof stored.volume === 'number' && stored.volume >= 0 && stored.volume <= 1
        ? stored.volume
        : DEFAULT_SETTINGS.volume,
    muted: pick(stored.muted, [true, false] as const, DEFAULT_SETTINGS.muted),
  }
}

export function saveSettings(settings: Settings): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(settings))
  } catch {}
}
