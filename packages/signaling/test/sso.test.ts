import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { SignalingClient } from '@smoldesk/protocol'
import * as oidc from 'openid-client'
import WebSocket from 'ws'
import { fetchTrusting, SsoLogin, type SsoOptions } from '../src/index.ts'
import { connectClient, listeningHttp, type RunningSignaling, sleep, startSignaling } from './helpers.ts'
import { CLIENT, CookieJar, OTHER_CLIENT, PEOPLE, startProvider, type TestProvider } from './oidc-provider.ts'

/*
 * Single sign-on against a real OpenID provider (oidc-provider over HTTPS),
 * played as a browser would: cookies per origin, redirects followed one by
 * one, the provider's login and consent forms submitted. The relying party
 * is SmolDesk's signaling server; the provider's certificate is trusted
 * through --oidc-ca-file's fetch (fetchTrusting), as an organisation's own
 * CA would be.
 */

type Fetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<Response>

describe('single sign-on: a viewer signs in with the organisation’s identity provider', () => {
  let provider: TestProvider
  let running: RunningSignaling
  /** An attacker between SmolDesk and the provider's token endpoint, when set: rewrites its answers. */
  let tamper: ((body: string) => string) | undefined
  /** What the RP said when it refused a sign-in, in order. */
  const refusals: string[] = []
  let toProvider: Fetch

  /** SmolDesk's signaling server as the relying party, on `http` (its port registered with the provider). */
  async function rp(http: Server, options: Partial<SsoOptions> = {}): Promise<RunningSignaling> {
    const trusted = fetchTrusting(provider.ca)
    const sso = await SsoLogin.discover({
      issuer: provider.issuer,
      clientId: CLIENT.id,
      clientSecret: CLIENT.secret,
      scopes: 'openid email profile groups',
      fetch: async (url, init) => {
        const res = await trusted(url, init)
        if (!tamper || !url.endsWith('/token')) return res
        return new Response(tamper(await res.text()), { status: res.status, headers: res.headers })
      },
      log: (level, message, fields) => {
        if (level === 'warn') refusals.push(`${message}: ${String(fields?.reason)}`)
      },
      ...options,
    })
    return startSignaling({ sso }, http)
  }

  let servers: Server[]
  before(async () => {
    // Redirect URIs name ports, so the ports come first, held from here on: one RP as deployed,
    // one whose sessions last 1.5 s.
    servers = await Promise.all([listeningHttp(), listeningHttp()])
    const ports = servers.map((s) => (s.address() as AddressInfo).port)
    provider = await startProvider(ports.map((p) => `http://127.0.0.1:${p}/auth/callback`))
    toProvider = fetchTrusting(provider.ca) as Fetch
    running = await rp(servers[0] as Server)
  })
  after(async () => {
    await running?.close()
    for (const s of servers ?? []) if (s.listening) await new Promise((resolve) => s.close(resolve))
    await provider?.close()
  })

  /** One request as a browser makes it: this origin's cookies sent, its Set-Cookie kept. */
  async function get(
    jar: CookieJar,
    url: URL,
    init: { method?: string; body?: string } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { cookie: jar.header(url) }
    if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const method = init.method ?? 'GET'
    const res =
      url.protocol === 'https:'
        ? await toProvider(url.href, { method, headers, ...(init.body !== undefined && { body: init.body }) })
        : await fetch(url, {
            method,
            headers,
            redirect: 'manual',
            ...(init.body !== undefined && { body: init.body }),
          })
    jar.take(url, res)
    return res
  }

  /** Follows redirects until one leads back to the RP's callback; submits the provider's forms as `login`. */
  async function signInAt(
    jar: CookieJar,
    login: string,
    start = new URL(`/auth/login?return=${encodeURIComponent('/?room=abc')}`, running.httpUrl),
  ): Promise<URL> {
    let url = start
    let res = await get(jar, url)
    for (let step = 0; step < 20; step++) {
      const location = res.headers.get('location')
      if (location) {
        url = new URL(location, url)
        if (url.pathname === '/auth/callback') return url
        res = await get(jar, url)
        continue
      }
      const html = await res.text()
      assert.equal(res.status, 200, `the provider's page: ${html.slice(0, 300)}`)
      const action = /action="([^"]+)"/.exec(html)?.[1]
      assert.ok(action, `a form on ${url.href}`)
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1] ?? 'consent'
      const body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt })
      url = new URL(action.replace(/&amp;/g, '&'), url)
      res = await get(jar, url, { method: 'POST', body: body.toString() })
    }
    throw new Error('the sign-in never came back')
  }

  async function me(
    jar: CookieJar,
    at = running,
  ): Promise<{ signedIn: boolean; identity?: { sub: string; email?: string; groups: string[] } }> {
    const res = await get(jar, new URL('/auth/me', at.httpUrl))
    return (await res.json()) as {
      signedIn: boolean
      identity?: { sub: string; email?: string; groups: string[] }
    }
  }

  it('signs in through the provider, comes back where it started, and the signaling connection knows who it is', async () => {
    const jar = new CookieJar()
    assert.deepEqual(await me(jar), { signedIn: false })
    const callback = await signInAt(jar, 'alice')
    const back = await get(jar, callback)
    assert.equal(back.status, 302)
    assert.equal(back.headers.get('location'), '/?room=abc')
    const session = await me(jar)
    assert.equal(session.signedIn, true)
    assert.equal(session.identity?.sub, 'alice')
    assert.equal(session.identity?.email, PEOPLE.alice?.email)
    assert.deepEqual(session.identity?.groups, ['support'])

    // The signaling connection of the same browser (its cookie, its origin) is Alice's.
    const rpUrl = new URL(running.httpUrl)
    const welcome = await welcomeFrom(running.url, jar.header(rpUrl), rpUrl.origin)
    assert.equal(welcome.type, 'welcome')
    assert.equal((welcome.identity as { sub?: string } | undefined)?.sub, 'alice')
    // Another site's page in that browser gets no identity, cookie or not.
    const foreign = await welcomeFrom(running.url, jar.header(rpUrl), 'https://evil.example')
    assert.equal(foreign.identity, undefined)
    // And one with no cookie at all is nobody.
    const anonymous = await SignalingClient.connect(running.url)
    anonymous.close()

    // The host of a room is told whom a joining viewer signed in as (its admission decides).
    const host = await connectClient(running.url)
    await host.client.request({ type: 'create-room', roomId: 'sso-room' }, 'room-created')
    const viewer = new WebSocket(running.url, {
      headers: { cookie: jar.header(rpUrl), origin: rpUrl.origin },
    })
    await new Promise((resolve) => viewer.once('message', resolve))
    viewer.send(JSON.stringify({ type: 'join-room', roomId: 'sso-room' }))
    const joined = await host.box.next('peer-joined')
    assert.equal(joined.identity?.sub, 'alice')
    assert.deepEqual(joined.identity?.groups, ['support'])
    viewer.close()
    host.client.close()

    // Another site's page cannot sign Alice out; her own page can.
    const forged = await fetch(new URL('/auth/logout', running.httpUrl), {
      method: 'POST',
      headers: { cookie: jar.header(rpUrl), origin: 'https://evil.example' },
    })
    assert.equal(forged.status, 403)
    assert.equal((await me(jar)).signedIn, true)
    const out = await get(jar, new URL('/auth/logout', running.httpUrl), { method: 'POST' })
    assert.equal(out.status, 204)
    assert.deepEqual(await me(jar), { signedIn: false })
  })

  it('refuses a replayed authorization code, a callback no sign-in started, a forged state, and a tampered session', async () => {
    const jar = new CookieJar()
    const callback = await signInAt(jar, 'bob')
    const loginCookie = jar.get(new URL(running.httpUrl), 'smoldesk_login')
    assert.ok(loginCookie)
    assert.equal((await get(jar, callback)).status, 302)

    // The same code again, with the login state an attacker copied: the provider refuses it.
    const thief = new CookieJar()
    thief.set(new URL(running.httpUrl), 'smoldesk_login', loginCookie)
    const replay = await get(thief, callback)
    assert.equal(replay.status, 401)
    assert.match(await replay.text(), /LOGIN_FAILED.*did not check out/s)
    assert.deepEqual(await me(thief), { signedIn: false })

    // A callback this browser never started (a login CSRF: someone else's code pushed on us).
    const victim = new CookieJar()
    const pushed = await get(victim, callback)
    assert.equal(pushed.status, 401)
    assert.match(await pushed.text(), /LOGIN_FAILED.*no sign-in was under way/s)

    // Our own login under way, but the state in the URL is another one.
    const jar2 = new CookieJar()
    const honest = await signInAt(jar2, 'bob')
    honest.searchParams.set('state', 'forged-state')
    const forged = await get(jar2, honest)
    assert.equal(forged.status, 401)
    assert.match(await forged.text(), /LOGIN_FAILED/)

    // A session cookie with one character changed names nobody.
    const rpUrl = new URL(running.httpUrl)
    const sealed = jar.get(rpUrl, 'smoldesk_session') ?? ''
    assert.ok(sealed.length > 20)
    const flipped = sealed.slice(0, 10) + (sealed[10] === 'A' ? 'B' : 'A') + sealed.slice(11)
    const tampered = new CookieJar()
    tampered.set(rpUrl, 'smoldesk_session', flipped)
    assert.deepEqual(await me(tampered), { signedIn: false })
  })

  it('refuses an ID token with a broken signature, and one issued to another application', async () => {
    try {
      // The token endpoint's answer changed on its way: the ID token's signature no longer holds.
      tamper = (body) => {
        const parsed = JSON.parse(body) as { id_token: string }
        const [h, p, sig = ''] = parsed.id_token.split('.')
        parsed.id_token = `${h}.${p}.${sig.slice(0, -4)}AAAA`
        return JSON.stringify(parsed)
      }
      const jar = new CookieJar()
      const res = await get(jar, await signInAt(jar, 'alice'))
      assert.equal(res.status, 401)
      assert.match(await res.text(), /LOGIN_FAILED/)
      assert.match(refusals.at(-1) ?? '', /signature/i)
      assert.deepEqual(await me(jar), { signedIn: false })

      // A validly signed ID token for Alice, with our login's nonce even (it is in the URL the
      // browser was sent to), but issued to another application: token substitution.
      const jar2 = new CookieJar()
      const started = await get(jar2, new URL('/auth/login', running.httpUrl))
      const toProviderUrl = new URL(started.headers.get('location') ?? '')
      const other = await otherClientsIdToken(toProviderUrl.searchParams.get('nonce') ?? '')
      tamper = (body) => JSON.stringify({ ...(JSON.parse(body) as object), id_token: other })
      const res2 = await get(jar2, await signInAt(jar2, 'alice', toProviderUrl))
      assert.equal(res2.status, 401)
      assert.match(await res2.text(), /LOGIN_FAILED/)
      assert.match(refusals.at(-1) ?? '', /aud/i)
      console.log(`refusals: ${refusals.join(' | ')}`)
      assert.deepEqual(await me(jar2), { signedIn: false })
    } finally {
      tamper = undefined
    }
  })

  it('ends a session when it expires, and sends nobody off-site after signing in', async () => {
    const short = await rp(servers[1] as Server, { sessionTtlMs: 1500 })
    try {
      const jar = new CookieJar()
      const start = new URL(`/auth/login?return=${encodeURIComponent('//evil.example/phish')}`, short.httpUrl)
      const back = await get(jar, await signInAt(jar, 'bob', start))
      assert.equal(back.headers.get('location'), '/', 'a return address off this site becomes /')
      assert.equal((await me(jar, short)).identity?.sub, 'bob')
      await sleep(1700)
      assert.deepEqual(await me(jar, short), { signedIn: false })
    } finally {
      await short.close()
    }
  })

  it('behind a reverse proxy, sends people back to the public address and trusts only its pages', async () => {
    const sso = await SsoLogin.discover({
      issuer: provider.issuer,
      clientId: CLIENT.id,
      clientSecret: CLIENT.secret,
      fetch: fetchTrusting(provider.ca),
    })
    const proxied = await startSignaling({ sso, publicUrl: 'https://desk.example.com' })
    try {
      const res = await fetch(new URL('/auth/login', proxied.httpUrl), { redirect: 'manual' })
      const to = new URL(res.headers.get('location') ?? '')
      assert.equal(to.searchParams.get('redirect_uri'), 'https://desk.example.com/auth/callback')
    } finally {
      await proxied.close()
    }
  })

  it('an unknown person at the provider does not come back signed in', async () => {
    const jar = new CookieJar()
    // The provider itself turns an unknown account away (its error page): no code ever comes back.
    await assert.rejects(signInAt(jar, 'mallory'), /500 !== 200/)
    assert.deepEqual(await me(jar), { signedIn: false })
  })

  /** An ID token the provider issued to OTHER_CLIENT for Alice, through that client's own code flow. */
  async function otherClientsIdToken(nonce: string): Promise<string> {
    const config = await oidc.discovery(
      new URL(provider.issuer),
      OTHER_CLIENT.id,
      OTHER_CLIENT.secret,
      undefined,
      { [oidc.customFetch]: fetchTrusting(provider.ca) },
    )
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const redirect = new URL('/auth/callback', running.httpUrl).href
    const start = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    })
    const jar = new CookieJar()
    const callback = await signInAt(jar, 'alice', start)
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    })
    assert.ok(tokens.id_token)
    return tokens.id_token
  }
})

/** The first thing a raw WebSocket with these cookie and Origin headers is told (its welcome). */
function welcomeFrom(url: string, cookie: string, origin: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { cookie, origin } })
    ws.once('message', (data) => {
      resolve(JSON.parse(String(data)) as Record<string, unknown>)
      ws.close()
    })
    ws.once('error', reject)
  })
}
