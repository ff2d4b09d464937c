import { readFile } from 'node:fs/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import { fetchTrusting, SsoLogin } from '@smoldesk/signaling'
import { createLogger } from '../log.ts'
import { IdentityPolicy } from '../security/identity-policy.ts'

const log = createLogger('sso')

/** Flags of `start` and `signaling` for single sign-on (OpenID Connect). */
export const SSO_OPTIONS = {
  'oidc-issuer': { type: 'string' },
  'oidc-client-id': { type: 'string' },
  'oidc-client-secret-file': { type: 'string' },
  'oidc-ca-file': { type: 'string' },
  'oidc-scopes': { type: 'string' },
  'oidc-session-key-file': { type: 'string' },
  'public-url': { type: 'string' },
} as const

export interface SsoValues {
  'oidc-issuer'?: string | undefined
  'oidc-client-id'?: string | undefined
  'oidc-client-secret-file'?: string | undefined
  'oidc-ca-file'?: string | undefined
  'oidc-scopes'?: string | undefined
  'oidc-session-key-file'?: string | undefined
  /** The address viewers open, when it is not this server's own (a reverse proxy in front). */
  'public-url'?: string | undefined
}

/**
 * The relying party for `--oidc-issuer`: the provider discovered now, so a
 * wrong issuer or an unreachable provider stops the start with words. The
 * client secret and the session key come from files (never the command
 * line, which every user of the machine can read).
 */
export async function setUpSso(values: SsoValues, secure: boolean): Promise<SsoLogin | undefined> {
  const issuer = values['oidc-issuer']
  const clientId = values['oidc-client-id']
  if (!issuer && !clientId) {
    for (const flag of [
      'oidc-client-secret-file',
      'oidc-ca-file',
      'oidc-scopes',
      'oidc-session-key-file',
    ] as const)
      if (values[flag] !== undefined) throw new SmolDeskError('INVALID_ARGS', `--${flag} needs --oidc-issuer`)
    return undefined
  }
  if (!issuer || !clientId)
    throw new SmolDeskError('INVALID_ARGS', '--oidc-issuer and --oidc-client-id go together')
  const secretFile = values['oidc-client-secret-file']
  const caFile = values['oidc-ca-file']
  const keyFile = values['oidc-session-key-file']
  const sso = await SsoLogin.discover({
    issuer,
    clientId,
    clientSecret: secretFile ? (await readText(secretFile, '--oidc-client-secret-file')).trim() : undefined,
    scopes: values['oidc-scopes'],
    sessionKey: keyFile
      ? Buffer.from((await readText(keyFile, '--oidc-session-key-file')).trim())
      : undefined,
    fetch: caFile ? fetchTrusting(await readText(caFile, '--oidc-ca-file')) : undefined,
    secureCookies: secure,
    log: (level, message, fields) => log[level](fields ?? {}, message),
  })
  log.info({ issuer: sso.issuer, clientId }, 'single sign-on through the identity provider')
  return sso
}

/** `--allow` and `--link-alone` of `start`: who may join once signed in. */
export function identityPolicy(
  allow: string | undefined,
  linkAlone: boolean | undefined,
  sso: SsoLogin | undefined,
): IdentityPolicy | undefined {
  if (allow === undefined) {
    if (linkAlone) throw new SmolDeskError('INVALID_ARGS', '--link-alone goes with --allow')
    return undefined
  }
  if (!sso)
    throw new SmolDeskError(
      'INVALID_ARGS',
      '--allow needs single sign-on: --oidc-issuer and --oidc-client-id',
    )
  return IdentityPolicy.parse(allow, linkAlone ?? false)
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new SmolDeskError('INVALID_ARGS', `${flag} ${path}: ${(err as Error).message}`)
  }
}
