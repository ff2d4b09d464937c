import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Provider from 'oidc-provider'

/**
 * A real OpenID provider for the tests: `oidc-provider` (a certified
 * implementation) over HTTPS with a self-signed certificate, two people and
 * a groups claim, and its development login form (any password; the login
 * names the account). Two clients: SmolDesk's, and another one, to play an
 * attacker with codes and tokens issued to someone else.
 */
export interface TestProvider {
  issuer: string
  /** The certificate to trust it by (PEM). */
  ca: Buffer
  close(): Promise<void>
}

export const PEOPLE: Record<string, { email: string; name: string; groups: string[] }> = {
  alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['support'] },
  bob: { email: 'bob@example.com', name: 'Bob Builder', groups: ['builders'] },
}

export const CLIENT = { id: 'smoldesk', secret: 'smoldesk-test-secret-0123456789' }
export const OTHER_CLIENT = { id: 'other-app', secret: 'other-app-test-secret-0123456789' }

export async function startProvider(redirectUris: string[]): Promise<TestProvider> {
  const dir = await mkdtemp(join(tmpdir(), 'smoldesk-oidc-'))
  execFileSync(
    'openssl',
    // biome-ignore format: openssl's options in pairs
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  )
  const [cert, key] = await Promise.all([readFile(join(dir, 'cert.pem')), readFile(join(dir, 'key.pem'))])
  await rm(dir, { recursive: true, force: true })
  // The port first: the issuer URL is part of the provider's configuration.
  const server: Server = createServer({ cert, key })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT.id,
        client_secret: CLIENT.secret,
        redirect_uris: redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
      {
        client_id: OTHER_CLIENT.id,
        client_secret: OTHER_CLIENT.secret,
        redirect_uris: redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Claims in the ID token itself (not only at the userinfo endpoint): what SmolDesk reads.
    conformIdTokenClaims: false,
    findAccount: (_ctx, id) => {
      const person = PEOPLE[id]
      if (!person) return undefined
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          email: person.email,
          email_verified: true,
          name: person.name,
          groups: person.groups,
        }),
      }
    },
    // The dev login's "any password" over plain cookies; fine on a test's loopback.
    cookies: { keys: ['smoldesk-test-provider-cookie-key'] },
  })
  provider.proxy = false
  server.on('request', provider.callback())
  return {
    issuer,
    ca: cert,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Cookies by origin, as a browser keeps them (enough for these flows: no paths, no expiry). */
export class CookieJar {
  readonly #jars = new Map<string, Map<string, string>>()

  header(url: URL): string {
    return [...(this.#jars.get(url.origin) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  take(url: URL, res: Response): void {
    const jar = this.#jars.get(url.origin) ?? new Map<string, string>()
    this.#jars.set(url.origin, jar)
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      if (/max-age=0/i.test(line) || value === '') jar.delete(name)
      else jar.set(name, value)
    }
  }

  get(url: URL, name: string): string | undefined {
    return this.#jars.get(url.origin)?.get(name)
  }

  set(url: URL, name: string, value: string): void {
    const jar = this.#jars.get(url.origin) ?? new Map<string, string>()
    this.#jars.set(url.origin, jar)
    jar.set(name, value)
  }
}
