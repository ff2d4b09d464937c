import { request } from 'node:https'

/** What openid-client hands its fetch (see oauth4webapi's CustomFetchOptions). */
interface FetchOptions {
  method: string
  headers: Record<string, string>
  body?: unknown
  signal?: AbortSignal | undefined
}

/**
 * A fetch for openid-client that trusts `ca` (PEM) for the provider's TLS:
 * an organisation's own provider often has a certificate from its own CA,
 * which Node's global fetch will not take without a process-wide
 * NODE_EXTRA_CA_CERTS. Only what openid-client needs: one request, no
 * redirects followed, the body read whole.
 */
export function fetchTrusting(
  ca: Buffer | string,
): (url: string, options: FetchOptions) => Promise<Response> {
  return (url, options) =>
    new Promise((resolve, reject) => {
      const target = new URL(url)
      if (target.protocol !== 'https:') {
        reject(new Error(`the identity provider must be reached over HTTPS, not ${url}`))
        return
      }
      const body = options.body === undefined ? undefined : String(options.body)
      const req = request(
        target,
        { method: options.method, headers: options.headers, ca, signal: options.signal },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const headers = new Headers()
            for (const [name, value] of Object.entries(res.headers)) {
              if (Array.isArray(value)) for (const v of value) headers.append(name, v)
              else if (value !== undefined) headers.set(name, value)
            }
            const status = res.statusCode ?? 502
            // A Response with a null-body status must have no body.
            const content = status === 204 || status === 304 ? null : Buffer.concat(chunks)
            resolve(new Response(content, { status, headers }))
          })
        },
      )
      req.on('error', reject)
      req.end(body)
    })
}
