import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { CommandResult, EventPayload, IpcClient } from '@smoldesk/protocol'
import type { Page } from 'puppeteer-core'
import { CLIENT, startProvider, type TestProvider } from '../../signaling/test/oidc-provider.ts'
import { freePort } from '../src/process/ports.ts'
import { inPage, waitForColour } from './browser.ts'
import { VIEWER_BROWSERS } from './browsers.ts'
import { eventually } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import type { Rgb } from './x11-paint.ts'

/*
 * Single sign-on as a person meets it, in each browser: `smoldesk start`
 * with an identity provider (oidc-provider over HTTPS, its certificate
 * trusted through --oidc-ca-file) and an allow-list; the viewer page opened
 * without a link token says to sign in, the sign-in goes through the
 * provider's own pages and comes back, and the picture arrives. Someone off
 * the list is told so in words.
 */

const GREEN: Rgb = [30, 200, 60]

declare const window: { smoldesk?: { state: string; detail: string } }
declare const document: {
  body: { innerText: string }
  querySelector(s: string): { click(): void } | null
}

// What the person reads, as laid out (hidden text is not read): innerText on purpose.
// biome-ignore lint/performance/useDomNodeTextContent: the rendered words are what is asserted
const pageText = (page: Page) => inPage(page, () => document.body.innerText, undefined)

/** Signs in on the provider's pages: its login form (any password), then its consent form. */
async function signIn(page: Page, login: string): Promise<void> {
  await page.waitForSelector('input[name="login"]', { timeout: 15_000 })
  await page.type('input[name="login"]', login)
  await page.type('input[name="password"]', 'any password')
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')])
  // The consent page (first sign-in of this person to SmolDesk), then back to the viewer.
  if (await page.$('button[autofocus]')) {
    await Promise.all([page.waitForNavigation(), page.click('button[autofocus]')])
  }
}

for (const name of VIEWER_BROWSERS) {
  describe(`single sign-on in ${name}`, () => {
    let provider: TestProvider
    let scene: Scene
    let client: IpcClient
    let dir: string
    let roomUrl: string

    before(async () => {
      const port = await freePort()
      provider = await startProvider([`http://127.0.0.1:${port}/auth/callback`])
      dir = await mkdtemp(join(tmpdir(), 'smoldesk-sso-'))
      await writeFile(join(dir, 'ca.pem'), provider.ca)
      await writeFile(join(dir, 'secret'), CLIENT.secret, { mode: 0o600 })
      scene = await openScene({
        monitors: [{ width: 1280, height: 720 }],
        colours: [GREEN],
        // biome-ignore format: flags in pairs
        hostArgs: ['--port', String(port),
          '--oidc-issuer', provider.issuer, '--oidc-client-id', CLIENT.id,
          '--oidc-client-secret-file', join(dir, 'secret'), '--oidc-ca-file', join(dir, 'ca.pem'),
          '--oidc-scopes', 'openid email profile groups', '--allow', 'alice@example.com,group:support'],
        browser: name,
        acceptInsecureCerts: true,
      })
      client = await scene.client()
      // The link without its token: the room alone, as a colleague would be sent it.
      roomUrl = (await scene.url()).split('#')[0] ?? ''
    })
    after(async () => {
      await scene?.close()
      await provider?.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('asks to sign in, signs in through the provider, comes back to the room and sees the desktop', async () => {
      const connectedEvents: EventPayload<'viewer-connected'>[] = []
      const unlisten = await client.listen<EventPayload<'viewer-connected'>>('viewer-connected', (e) =>
        connectedEvents.push(e.payload),
      )
      const page = await scene.browser.newPage()
      try {
        await page.goto(roomUrl)
        await eventually(async () => assert.match(await pageText(page), /Sign in to join/), 20_000)
        assert.match(await pageText(page), /LOGIN_REQUIRED/)
        await Promise.all([page.waitForNavigation(), page.click('a.button')])
        await signIn(page, 'alice')
        assert.equal(new URL(page.url()).search, new URL(roomUrl).search, 'back in the room')
        await eventually(
          async () => assert.equal(await inPage(page, () => window.smoldesk?.state, undefined), 'connected'),
          30_000,
        )
        await waitForColour(page, GREEN, 15_000)
        assert.match(await pageText(page), /Signed in as\s+alice@example\.com/)
        // The host knows whom it let in.
        const viewers = await client.invoke<CommandResult<'list_viewers'>>('list_viewers')
        assert.deepEqual(
          viewers.map((v) => v.identity?.email),
          ['alice@example.com'],
        )
        await eventually(async () =>
          assert.deepEqual(
            connectedEvents.map((e) => [e.role, e.identity?.email, e.identity?.groups]),
            [['viewer', 'alice@example.com', ['support']]],
          ),
        )
        unlisten()
        // The audit trail has it, whatever the log level (these tests run at warn).
        const logs = await client.invoke<CommandResult<'get_recent_logs'>>('get_recent_logs', { limit: 500 })
        const joined = logs.filter((l) => l.name === 'audit' && l.msg === 'viewer joined')
        assert.equal(joined.length, 1)
        assert.match(joined[0]?.detail ?? '', /"role":"viewer".*"email":"alice@example\.com"/)
      } finally {
        await page.close()
      }
    })

    it('tells someone off the list, in words, that they are not on it', async () => {
      const context = await scene.browser.createBrowserContext()
      const page = await context.newPage()
      try {
        await page.goto(roomUrl)
        await eventually(async () => assert.match(await pageText(page), /Sign in to join/), 20_000)
        await Promise.all([page.waitForNavigation(), page.click('a.button')])
        await signIn(page, 'bob')
        await eventually(async () => assert.match(await pageText(page), /not on this host’s list/), 20_000)
        assert.match(await pageText(page), /FORBIDDEN/)
        assert.match(await pageText(page), /bob@example\.com is not on the list/)
        assert.match(await pageText(page), /Signed in as\s+bob@example\.com/)
      } finally {
        await context.close()
      }
    })

    it('lets the host change who may join while it runs, and whether a link alone is enough', async () => {
      const status = await client.invoke<CommandResult<'get_host_status'>>('get_host_status')
      assert.deepEqual(status.sso, {
        issuer: provider.issuer,
        allow: ['alice@example.com', 'group:support'],
        link_alone: false,
      })
      const context = await scene.browser.createBrowserContext()
      const page = await context.newPage()
      try {
        // A link with a valid token is not enough while single sign-on is the rule…
        const link = await scene.url()
        await page.goto(link)
        await eventually(async () => assert.match(await pageText(page), /Sign in to join/), 20_000)
        // …until the host says it is.
        await client.invoke('set_room_access', { linkAlone: true })
        await page.goto('about:blank')
        await page.goto(link)
        await waitForColour(page, GREEN, 30_000)
        await page.goto('about:blank')

        // Bob added by name: he signs in and is let in.
        const changed = await client.invoke<CommandResult<'set_room_access'>>('set_room_access', {
          allow: ['bob@example.com'],
          linkAlone: false,
        })
        assert.deepEqual([changed.allow, changed.link_alone], [['bob@example.com'], false])
        await page.goto(roomUrl)
        await eventually(async () => assert.match(await pageText(page), /Sign in to join/), 20_000)
        await Promise.all([page.waitForNavigation(), page.click('a.button')])
        await signIn(page, 'bob')
        await waitForColour(page, GREEN, 30_000)
        // A list with something that names nobody is refused, and the list stays as it was.
        await assert.rejects(client.invoke('set_room_access', { allow: ['support'] }), {
          code: 'INVALID_ARGS',
        })
        const after = await client.invoke<CommandResult<'get_host_status'>>('get_host_status')
        assert.deepEqual(after.sso?.allow, ['bob@example.com'])
      } finally {
        await context.close()
      }
    })
  })
}
