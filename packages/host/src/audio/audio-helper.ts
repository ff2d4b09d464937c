import { existsSync } from 'node:fs'
import { resolve } from 'node:path'

/** SmolDesk's sound helper (native/smoldesk-audio.c, built by `./smoldesk setup`). */
export const AUDIO_BINARY = resolve(import.meta.dirname, '../../.build/smoldesk-audio')

export function audioHelperBuilt(): boolean {
  return existsSync(AUDIO_BINARY)
}

/** The helper's --server argument, when the host was given a sound server (else libpulse finds the default). */
export function serverArgs(server: string | undefined): string[] {
  return server ? ['--server', server] : []
}
