import { SmolDeskError, type VerifiedIdentity } from '@smoldesk/protocol'

/**
 * Who may join when viewers sign in with the organisation's identity
 * provider (`--allow alice@example.com,group:support`): people by their
 * verified e-mail address (or `sub:<id>`, the provider's subject), or any
 * member of a group the provider's groups claim names. `linkAlone`: a viewer
 * link from the host admits without signing in too; without it, a link is
 * not enough and only the allowed get in.
 */
export class IdentityPolicy {
  readonly #people = new Set<string>()
  readonly #subjects = new Set<string>()
  readonly #groups = new Set<string>()
  readonly linkAlone: boolean

  constructor(allow: readonly string[], linkAlone: boolean) {
    this.linkAlone = linkAlone
    for (const raw of allow) {
      const entry = raw.trim()
      if (entry === '') continue
      if (entry.startsWith('group:') && entry.length > 6) this.#groups.add(entry.slice(6))
      else if (entry.startsWith('sub:') && entry.length > 4) this.#subjects.add(entry.slice(4))
      else if (/^[^@\s]+@[^@\s]+$/.test(entry)) this.#people.add(entry.toLowerCase())
      else
        throw new SmolDeskError(
          'INVALID_ARGS',
          `--allow takes e-mail addresses, group:NAME and sub:ID, comma-separated; not '${entry}'`,
        )
    }
  }

  /** From `--allow a,b,group:c`. */
  static parse(list: string, linkAlone: boolean): IdentityPolicy {
    return new IdentityPolicy(list.split(','), linkAlone)
  }

  /** The allow-list as given (for the control page and logs). */
  get entries(): string[] {
    return [
      ...this.#people,
      ...[...this.#groups].map((g) => `group:${g}`),
      ...[...this.#subjects].map((s) => `sub:${s}`),
    ]
  }

  allows(identity: VerifiedIdentity): boolean {
    if (this.#subjects.has(identity.sub)) return true
    if (identity.email && this.#people.has(identity.email.toLowerCase())) return true
    return identity.groups.some((g) => this.#groups.has(g))
  }

  /**
   * Throws, in words, when this identity (or nobody signed in) may not join
   * and a link cannot stand in for it; returns whether the identity itself
   * admits the viewer.
   */
  check(identity: VerifiedIdentity | undefined): boolean {
    if (identity && this.allows(identity)) return true
    if (this.linkAlone) return false
    if (!identity)
      throw new SmolDeskError(
        'LOGIN_REQUIRED',
        'this host lets in people signed in with their organisation’s account: sign in, then join again',
      )
    throw new SmolDeskError(
      'FORBIDDEN',
      `${describeIdentity(identity)} is not on the list of people this host lets in`,
    )
  }
}

/** A person in a few words: their address, or their name, or the provider's id for them. */
export function describeIdentity(identity: VerifiedIdentity): string {
  return identity.email ?? identity.name ?? `sub:${identity.sub}`
}
