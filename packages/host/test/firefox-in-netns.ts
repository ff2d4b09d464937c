/*
 * Debian's Firefox inside a test's network namespace, for puppeteer.
 *
 * puppeteer talks WebDriver BiDi to Firefox over TCP on 127.0.0.1:PORT, but
 * inside the namespace 127.0.0.1 is the namespace's own loopback (and when
 * the test cuts the namespace's network, the test must still drive the
 * browser). A unix socket file is reachable from both sides, so the
 * control connection goes 127.0.0.1:PORT (outside) → socket file → 127.0.0.1:PORT
 * (inside), while the page's own traffic uses the namespace's network only.
 *
 *   node firefox-in-netns.ts NAMESPACE FIREFOX SOCKET [firefox args…]   (as puppeteer's executable)
 *   node firefox-in-netns.ts --inner SOCKET PORT                          (the inside end, run by the first)
 */
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import net from 'node:net'

/** Both ways, each side ending the other. */
function splice(a: net.Socket, b: net.Socket): void {
  a.pipe(b)
  b.pipe(a)
  const end = () => {
    a.destroy()
    b.destroy()
  }
  a.on('error', end).on('close', end)
  b.on('error', end).on('close', end)
}

const argv = process.argv.slice(2)
if (argv[0] === '--inner') {
  const [, socket = '', port = '0'] = argv
  rmSync(socket, { force: true })
  net.createServer((outside) => splice(outside, net.connect(Number(port), '127.0.0.1'))).listen(socket)
} else {
  const [namespace = '', firefox = '', socket = '', ...args] = argv
  const port = Number(
    /^--remote-debugging-port=(\d+)$/.exec(
      args.find((a) => a.startsWith('--remote-debugging-port=')) ?? '',
    )?.[1],
  )
  if (!port)
    throw new Error('firefox-in-netns needs puppeteer’s debuggingPort (a fixed --remote-debugging-port)')
  // Each child dies with this process (puppeteer kills it when the browser closes).
  const inNamespace = (command: string, rest: string[], stdio: 'ignore' | 'inherit') =>
    spawn('ip', ['netns', 'exec', namespace, 'setpriv', '--pdeathsig', 'KILL', '--', command, ...rest], {
      stdio,
    })
  const inner = inNamespace(
    process.execPath,
    [import.meta.filename, '--inner', socket, String(port)],
    'ignore',
  )
  const browser = inNamespace(firefox, args, 'inherit')
  const server = net.createServer((client) => splice(client, net.connect(socket))).listen(port, '127.0.0.1')
  const stop = (code: number) => {
    server.close()
    inner.kill('SIGKILL')
    browser.kill('SIGKILL')
    process.exit(code)
  }
  browser.on('exit', (code) => stop(code ?? 1))
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stop(0))
}
