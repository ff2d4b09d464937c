import type { X11Connection } from '../src/display/x11/connection.ts'

/**
 * Runs one of the benchmark's stand-alone X clients: `start` sets it up and
 * returns its connection; SIGTERM/SIGINT close it and exit 0; a failure to
 * start exits 1 with the reason on stderr.
 */
export function runStandalone(name: string, start: () => Promise<X11Connection>): void {
  start().then(
    (conn) => {
      const stop = () => {
        conn.close()
        process.exit(0)
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    },
    (err: unknown) => {
      process.stderr.write(`${name} failed: ${String(err)}\n`)
      process.exit(1)
    },
  )
}
