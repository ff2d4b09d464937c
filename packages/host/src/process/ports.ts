import { randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'

/** The lowest port handed out from here on: below it sit the well-known services. */
const PICK_FLOOR = 10_000

/**
 * A TCP port free on `host` right now (for child servers that cannot report
 * the port they chose). Picked below the kernel's ephemeral range when there
 * is room: a port from listen(0) is one the kernel hands out again to any
 * process's outgoing connection or listen(0), and in the seconds before the
 * child binds it (a test starts a desktop in between) another test's browser
 * took it, once in CI (EADDRINUSE). Below the range only a deliberate bind
 * takes it.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = await ephemeralLow()
  if (low - PICK_FLOOR >= 1000) {
    for (let tries = 0; tries < 50; tries++) {
      const port = PICK_FLOOR + randomInt(low - PICK_FLOOR)
      if ((await bindOnce(host, port)) !== undefined) return port
    }
  }
  const port = await bindOnce(host, 0)
  if (port === undefined) throw new Error(`no free TCP port on ${host}`)
  return port
}

/** The port bound on host (0: any), then released; undefined when it is taken or not ours to take. */
function bindOnce(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err),
    )
    server.listen(port, host, () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined))
    })
  })
}

/** Where the kernel's ephemeral ports begin (Linux's default when it cannot be read). */
async function ephemeralLow(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '')
  const low = Number(text.trim().split(/\s+/)[0])
  return Number.isSafeInteger(low) && low > 0 ? low : 32_768
}

/** True once something accepts TCP connections on host:port; false on timeout or when `alive` turns false. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && alive()) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host)
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}
