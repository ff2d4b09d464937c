import { connect } from 'node:net'
import { isAbsolute, join } from 'node:path'
import type { DisplayServer } from '@smoldesk/protocol'
import { X11Connection } from './x11/connection.ts'

const PROBE_TIMEOUT_MS = 1500

/** True when something accepts connections on the Wayland socket (a stale socket file does not count). */
export function waylandAnswers(env: NodeJS.ProcessEnv): Promise<boolean> {
  const name = env.WAYLAND_DISPLAY
  if (!name) return Promise.resolve(false)
  const path = isAbsolute(name) ? name : env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, name) : undefined
  if (!path) return Promise.resolve(false)
  return new Promise((resolve) => {
    const socket = connect(path)
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

async function x11Answers(display: string | undefined): Promise<boolean> {
  if (!display) return false
  try {
    const conn = await X11Connection.open(display, PROBE_TIMEOUT_MS)
    conn.close()
    return true
  } catch {
    return false
  }
}

/**
 * Which display server the host would share, found by connecting, not by
 * trusting environment variables: an explicitly chosen X display wins, then
 * a live Wayland compositor, then the X display from $DISPLAY.
 */
export async function detectDisplayServer(
  explicitX11Display: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DisplayServer> {
  if (explicitX11Display) return (await x11Answers(explicitX11Display)) ? 'X11' : 'Unknown'
  if (await waylandAnswers(env)) return 'Wayland'
  if (await x11Answers(env.DISPLAY)) return 'X11'
  return 'Unknown'
}
