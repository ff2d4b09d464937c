import type { IncomingMessage, ServerResponse } from 'node:http'
import { SmolDeskError, type VerifiedIdentity, VerifiedIdentitySchema } from '@smoldesk/protocol'
import * as client from 'openid-client'
import { z } from 'zod'
import { cookie, readCookies, Sealer } from './sessions.ts'

export interface SsoOptions {
  /** The identity provider's issuer URL (discovery at `<issuer>/.well-known/openid-configuration`). */
  issuer: string
  clientId: string
  /** For a confidential client; a public one (PKCE only) has none. */
  clientSecret?: string | undefined
  /** Scopes asked for (default `openid email profile`; add `groups` where the provider needs it for a groups claim). */
  scopes?: string | undefined
  /** The claim holding group names (default `groups`). */
  groupsClaim?: string | undefined
  /** How long a sign-in lasts (default 8 hours). */
  sessionTtlMs?: number | undefined
  /** Seals the session cookies; give every instance the same one (default: a fresh key per process). */
  sessionKey?: Buffer | undefined
  /** Set `Secure` on the cookies (the page is served over HTTPS). */
  secureCookies?: boolean | undefined
  /** The fetch to reach the provider with (a private CA, tests); default the global one. */
  fetch?: client.CustomFetch | undefined
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void
}

const SESSION_COOKIE = 'smoldesk_session'
const LOGIN_COOKIE = 'smoldesk_login'
/** A login must come back from the provider within this. */
const LOGIN_TTL_MS = 10 * 60_000
const DEFAULT_SESSION_TTL_MS = 8 * 3600_000

const PendingLoginSchema = z.strictObject({
  verifier: z.string(),
  state: z.string(),
  nonce: z.string(),
  returnTo: z.string(),
})

/**
 * "Log in with your company account": OpenID Connect authorization code flow
 * with PKCE against the organisation's provider, through openid-client (a
 * certified relying party: it checks the ID token's signature, issuer,
 * audience, nonce and expiry). A signed-in browser holds a sealed session
 * cookie; the signaling connection it opens carries that cookie, and the
 * server knows who is joining.
 *
 *   GET  /auth/login?return=/path   to the provider (state, nonce and PKCE
 *                                    verifier in a sealed cookie, 10 min)
 *   GET  /auth/callback             back from it: the code is exchanged and
 *                                    checked, the session cookie set
 *   GET  /auth/me                   {signedIn, identity?}
 *   POST /auth/logout               the session cookie cleared
 */
export class SsoLogin {
  readonly #config: client.Configuration
  readonly #o: SsoOptions
  readonly #sealer: Sealer

  private constructor(config: client.Configuration, options: SsoOptions) {
    this.#config = config
    this.#o = options
    this.#sealer = new Sealer(options.sessionKey)
  }

  /** Discovers the provider; refuses to start, in words, when it cannot be reached or is not one. */
  static async discover(options: SsoOptions): Promise<SsoLogin> {
    let issuer: URL
    try {
      issuer = new URL(options.issuer)
    } catch {
      throw new SmolDeskError('INVALID_ARGS', `--oidc-issuer '${options.issuer}' is not a URL`)
    }
    try {
      const config = await client.discovery(
        issuer,
        options.clientId,
        options.clientSecret,
        options.clientSecret ? undefined : client.None(),
        options.fetch ? { [client.customFetch]: options.fetch } : undefined,
      )
      // openid-client trusts an ID token from the token endpoint on TLS alone (OIDC Core allows
      // it); its signature is checked too, so a token changed on the way (a proxy, a private CA
      // gone wrong) is refused rather than believed.
      client.enableNonRepudiationChecks(config)
      return new SsoLogin(config, options)
    } catch (err) {
      throw new SmolDeskError(
        'UNAVAILABLE',
        `cannot use the identity provider at ${issuer.href}: ${(err as Error).message}`,
        { cause: err },
      )
    }
  }

  get issuer(): string {
    return this.#config.serverMetadata().issuer
  }

  /** Who the request's session cookie says signed in, if anyone (still valid). */
  identityOf(req: IncomingMessage): VerifiedIdentity | undefined {
    const sealed = readCookies(req.headers.cookie).get(SESSION_COOKIE)
    const parsed = VerifiedIdentitySchema.safeParse(this.#sealer.open('session', sealed))
    // A session another provider vouched for (a shared key, a changed --oidc-issuer) names nobody here.
    return parsed.success && parsed.data.issuer === this.issuer ? parsed.data : undefined
  }

  /** Serves /auth/*; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, base: URL): boolean {
    const url = new URL(req.url ?? '/', base)
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /auth/login') void this.#login(url, base, res).catch((err) => this.#fail(res, err))
    else if (route === 'GET /auth/callback')
      void this.#callback(req, url, base, res).catch((err) => this.#fail(res, err))
    else if (route === 'GET /auth/me') {
      const identity = this.identityOf(req)
      json(res, 200, identity ? { signedIn: true, identity } : { signedIn: false })
    } else if (route === 'POST /auth/logout') {
      // Only this site's own page signs its people out (another site's form could post here too).
      const origin = req.headers.origin
      if (origin !== undefined && origin !== base.origin) res.writeHead(403).end()
      else res.writeHead(204, { 'set-cookie': this.#clear(SESSION_COOKIE) }).end()
    } else return false
    return true
  }

  async #login(url: URL, base: URL, res: ServerResponse): Promise<void> {
    const returnTo = localPath(url.searchParams.get('return'))
    const verifier = client.randomPKCECodeVerifier()
    const pending = { verifier, state: client.randomState(), nonce: client.randomNonce(), returnTo }
    const target = client.buildAuthorizationUrl(this.#config, {
      redirect_uri: new URL('/auth/callback', base).href,
      scope: this.#o.scopes ?? 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    })
    res
      .writeHead(302, {
        location: target.href,
        'set-cookie': cookie(LOGIN_COOKIE, this.#sealer.seal('login', pending, LOGIN_TTL_MS), {
          maxAgeS: LOGIN_TTL_MS / 1000,
          secure: this.#o.secureCookies ?? false,
        }),
        'cache-control': 'no-store',
      })
      .end()
  }

  async #callback(req: IncomingMessage, url: URL, base: URL, res: ServerResponse): Promise<void> {
    const pending = PendingLoginSchema.safeParse(
      this.#sealer.open('login', readCookies(req.headers.cookie).get(LOGIN_COOKIE)),
    )
    if (!pending.success)
      throw new SmolDeskError(
        'LOGIN_FAILED',
        'no sign-in was under way in this browser (or it took over 10 minutes)',
      )
    const error = url.searchParams.get('error')
    if (error) {
      const said = url.searchParams.get('error_description') ?? error
      throw new SmolDeskError('LOGIN_FAILED', `the identity provider refused the sign-in: ${said}`)
    }
    // The redirect URI must be the one the login sent: the provider compares them.
    const current = new URL(`${new URL('/auth/callback', base).href}${url.search}`)
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>
    try {
      tokens = await client.authorizationCodeGrant(this.#config, current, {
        pkceCodeVerifier: pending.data.verifier,
        expectedState: pending.data.state,
        expectedNonce: pending.data.nonce,
        idTokenExpected: true,
      })
    } catch (err) {
      throw new SmolDeskError('LOGIN_FAILED', `the sign-in did not check out: ${describe(err)}`, {
        cause: err,
      })
    }
    const identity = this.#identity(tokens.claims())
    const ttl = this.#o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS
    this.#o.log?.('info', 'signed in', { sub: identity.sub, email: identity.email, groups: identity.groups })
    res
      .writeHead(302, {
        location: pending.data.returnTo,
        'set-cookie': [
          cookie(SESSION_COOKIE, this.#sealer.seal('session', identity, ttl), {
            maxAgeS: Math.floor(ttl / 1000),
            secure: this.#o.secureCookies ?? false,
          }),
          this.#clear(LOGIN_COOKIE),
        ],
        'cache-control': 'no-store',
      })
      .end()
  }

  #identity(claims: client.IDToken | undefined): VerifiedIdentity {
    if (!claims) throw new SmolDeskError('LOGIN_FAILED', 'the identity provider sent no ID token')
    const groupsClaim = claims[this.#o.groupsClaim ?? 'groups']
    const groups = Array.isArray(groupsClaim)
      ? groupsClaim.filter((g): g is string => typeof g === 'string')
      : []
    const parsed = VerifiedIdentitySchema.safeParse({
      sub: claims.sub,
      // An address the provider has not verified could be anyone's: it names nobody here.
      email: claims.email_verified === true && typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      groups,
      issuer: claims.iss,
    })
    if (!parsed.success) throw new SmolDeskError('LOGIN_FAILED', 'the ID token names nobody SmolDesk can use')
    return parsed.data
  }

  #clear(name: string): string {
    return cookie(name, '', { maxAgeS: 0, secure: this.#o.secureCookies ?? false })
  }

  #fail(res: ServerResponse, err: unknown): void {
    const error = SmolDeskError.from(err)
    this.#o.log?.('warn', 'sign-in failed', { code: error.code, reason: error.message })
    if (res.headersSent) return
    res
      .writeHead(error.code === 'LOGIN_FAILED' ? 401 : 502, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'set-cookie': this.#clear(LOGIN_COOKIE),
      })
      .end(
        `<!doctype html><meta charset="utf-8"><title>Sign-in failed</title>` +
          `<p>Sign-in failed (<code>${error.code}</code>): ${escapeHtml(error.message)}</p>` +
          `<p><a href="/auth/login">Try again</a></p>`,
      )
  }
}

/** Only a path on this site: anything else (`//evil.example`, `https://…`) would make login an open redirect. */
function localPath(value: string | null): string {
  if (!value?.startsWith('/') || value.startsWith('//') || value.includes('\\')) return '/'
  return value
}

/** openid-client's failure in words: the provider's own description, or the check that failed (and why). */
function describe(err: unknown): string {
  const e = err as { message?: string; error?: string; error_description?: string; cause?: unknown }
  if (e.error_description ?? e.error) return String(e.error_description ?? e.error)
  const cause = e.cause as { message?: string; code?: string; cause?: { message?: string } } | undefined
  const why = cause?.message ?? cause?.cause?.message
  return why && why !== e.message ? `${e.message}: ${why}` : (e.message ?? String(err))
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body))
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
