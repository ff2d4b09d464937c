import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { launchChromium, waitForColour } from './browser.ts'
import { type HostProcess, printedUrl } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'

const LIME: Rgb = [150, 220, 30]

describe('transport security: start --tls-cert/--tls-key', () => {
  let scene: Scene
  let start: HostProcess
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smoldesk-tls-'))
    // A self-signed certificate for this machine (a deployment brings a real one, or a reverse proxy).
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    )
    scene = await openScene({
      monitors: [{ width: 640, height: 480 }],
      colours: [LIME],
      hostArgs: ['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')],
    })
    start = scene.host
  })

  after(async () => {
    await scene?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves the viewer and signaling over HTTPS/WSS only, and the video plays', async () => {
    const url = await printedUrl(start)
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/\?room=/)
    const origin = new URL(url).origin
    // Plain HTTP on the TLS port gets no page.
    await assert.rejects(fetch(origin.replace('https:', 'http:')))
    const { browser, close } = await launchChromium()
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true })
      const page = await context.newPage()
      await page.goto(url)
      await waitForColour(page, LIME, 20_000)
      assert.match(String(await page.evaluate('location.protocol')), /https/)
      const health = await page.evaluate(`fetch('/health').then((r) => r.json())`)
      assert.equal((health as { status: string }).status, 'ok')
      await context.close()
    } finally {
      await close()
    }
  })
})
