import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { VerifiedIdentity } from '@smoldesk/protocol'
import { IdentityPolicy } from '../src/security/identity-policy.ts'
import { SecurityContext } from '../src/security/security-context.ts'
import { ViewerAdmission } from '../src/security/viewer-admission.ts'
import { ViewerTokens } from '../src/security/viewer-tokens.ts'

const person = (sub: string, email: string | undefined, groups: string[] = []): VerifiedIdentity => ({
  sub,
  ...(email && { email }),
  groups,
  issuer: 'https://idp.example.com',
})
const alice = person('alice', 'Alice@Example.com', ['support'])
const bob = person('bob', 'bob@example.com', ['builders'])
const carol = person('c-123', undefined, [])

describe('who the host lets in when viewers sign in (allow-list)', () => {
  it('admits the allowed by address, group or subject, without a link; refuses the rest in words', async () => {
    const tokens = new ViewerTokens(new SecurityContext())
    const policy = IdentityPolicy.parse('alice@example.com,group:builders,sub:c-123', false)
    const admission = new ViewerAdmission(tokens, policy)
    assert.equal(
      await admission.admit('p1', 'room', 'viewer', undefined, alice),
      'viewer',
      'address, any case',
    )
    assert.equal(
      await admission.admit('p2', 'room', 'view-only', undefined, bob),
      'view-only',
      'group; asked less',
    )
    assert.equal(await admission.admit('p3', 'room', 'viewer', undefined, carol), 'viewer', 'subject')

    const mallory = person('mallory', 'mallory@example.com', ['support-ish'])
    const link = (await tokens.issue('room', 'viewer')).token
    await assert.rejects(admission.admit('p4', 'room', 'viewer', link, mallory), {
      code: 'FORBIDDEN',
      message: /mallory@example\.com is not on the list/,
    })
    await assert.rejects(admission.admit('p5', 'room', 'viewer', link, undefined), {
      code: 'LOGIN_REQUIRED',
      message: /sign in/,
    })
  })

  it('with --link-alone a link still admits whoever holds it, and a forged one still does not', async () => {
    const tokens = new ViewerTokens(new SecurityContext())
    const admission = new ViewerAdmission(tokens, IdentityPolicy.parse('group:support', true))
    const link = (await tokens.issue('room', 'view-only')).token
    assert.equal(
      await admission.admit('p1', 'room', 'viewer', link, undefined),
      'view-only',
      'the link’s role',
    )
    assert.equal(await admission.admit('p2', 'room', 'viewer', undefined, alice), 'viewer')
    await assert.rejects(admission.admit('p3', 'room', 'viewer', `${link}x`, bob), { code: 'TOKEN_INVALID' })
    await assert.rejects(admission.admit('p4', 'room', 'viewer', undefined, bob), { code: 'TOKEN_REQUIRED' })
  })

  it('in an approval room the allowed still wait for the host; the rest are refused without asking it', async () => {
    const tokens = new ViewerTokens(new SecurityContext())
    const admission = new ViewerAdmission(tokens, IdentityPolicy.parse('alice@example.com', false))
    const asked = await admission.request('p1', 'room', 'viewer', undefined, alice)
    assert.ok('reason' in asked && asked.reason === 'SIGNED_IN' && asked.identity?.sub === 'alice')
    assert.deepEqual(
      admission.pending.map((r) => r.peerId),
      ['p1'],
    )
    await assert.rejects(admission.request('p2', 'room', 'viewer', undefined, bob), { code: 'FORBIDDEN' })
    assert.equal(admission.pending.length, 1, 'the host was not asked about Bob')
    assert.equal(admission.approve('p1', undefined), 'viewer')
    assert.equal(await admission.admit('p1', 'room', 'viewer', undefined, alice), 'viewer')
  })

  it('an allow-list entry that is none of the three is refused when the host starts', () => {
    assert.throws(() => IdentityPolicy.parse('alice@example.com,support', false), {
      code: 'INVALID_ARGS',
      message: /not 'support'/,
    })
  })
})
