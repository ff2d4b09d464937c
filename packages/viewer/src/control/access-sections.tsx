import { useState } from 'react'
import { SecretForm } from '../secret-form.tsx'
import { who } from '../sign-in.ts'
import { QrCode } from './qr-code.tsx'
import type { SectionProps } from './section-props.ts'

/* Who may join and how: the invitation, the viewers in the room, the room's password and approval. */

export function Invite({ state, control, act }: SectionProps) {
  const link = state.shareLink
  return (
    <section aria-labelledby="invite-title">
      <h2 id="invite-title">Invite</h2>
      <p>
        Room code: <code>{state.status?.room_id ?? '–'}</code>
      </p>
      {link && (
        <div className="invite">
          <QrCode text={link.url} />
          <div>
            <label htmlFor="share-link">
              Share link ({link.role}, valid until {new Date(link.expires_at * 1000).toLocaleTimeString()})
            </label>
            <input id="share-link" readOnly value={link.url} onFocus={(ev) => ev.target.select()} />
            <button
              type="button"
              onClick={() => act(() => navigator.clipboard.writeText(link.url), 'Link copied')}
            >
              Copy link
            </button>
            <button type="button" onClick={() => act(() => control.newShareLink('viewer'))}>
              New control link
            </button>
            <button type="button" onClick={() => act(() => control.newShareLink('view-only'))}>
              New view-only link
            </button>
          </div>
        </div>
      )}
    </section>
  )
}

export function Viewers({ state, control, act }: SectionProps) {
  return (
    <section aria-labelledby="viewers-title">
      <h2 id="viewers-title">Viewers</h2>
      {state.viewers.length === 0 ? (
        <p>Nobody yet. Send someone the share link.</p>
      ) : (
        <ul className="viewers">
          {state.viewers.map((v) => (
            <li key={v.peer_id} data-peer-id={v.peer_id}>
              <span>
                {v.identity ? (
                  <strong title={`${v.identity.sub} at ${v.identity.issuer}`}>{who(v.identity)}</strong>
                ) : (
                  <code>{v.peer_id.slice(0, 8)}</code>
                )}{' '}
                · {v.state === 'pending' ? 'asks to join' : v.state} ·{' '}
                {v.role === 'viewer' ? 'full control' : 'view only'}
                {v.permissions.microphone && (v.talking ? ' · talking' : ' · microphone allowed')}
              </span>
              {v.state === 'pending' ? (
                <>
                  <button type="button" onClick={() => act(() => control.approve(v.peer_id, 'viewer'))}>
                    Approve
                  </button>
                  <button type="button" onClick={() => act(() => control.approve(v.peer_id, 'view-only'))}>
                    Approve view only
                  </button>
                  <button type="button" className="danger" onClick={() => act(() => control.deny(v.peer_id))}>
                    Deny
                  </button>
                </>
              ) : (
                <>
                  <button
                    type="button"
                    onClick={() =>
                      act(() => control.setRole(v.peer_id, v.role === 'viewer' ? 'view-only' : 'viewer'))
                    }
                  >
                    {v.role === 'viewer' ? 'Make view only' : 'Give control'}
                  </button>
                  {v.role === 'viewer' && (
                    <button
                      type="button"
                      aria-pressed={v.permissions.microphone}
                      onClick={() => act(() => control.setMicrophone(v.peer_id, !v.permissions.microphone))}
                    >
                      {v.permissions.microphone ? 'Mute microphone' : 'Allow microphone'}
                    </button>
                  )}
                  <button type="button" className="danger" onClick={() => act(() => control.kick(v.peer_id))}>
                    Kick
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

export function Security({ state, control, act }: SectionProps) {
  const status = state.status
  return (
    <section aria-labelledby="security-title">
      <h2 id="security-title">Security</h2>
      <p>
        Room password: {status?.password ? 'set' : 'none'} · Viewers without a link:{' '}
        {status?.approval ? 'may ask to join' : 'turned away'} · Signing key:{' '}
        {status?.security_initialized ? 'yours' : 'random for this launch'}
      </p>
      <SecretForm
        id="room-password-new"
        label="New room password (empty: none)"
        autoComplete="new-password"
        submit="Set password"
        clearOnSubmit
        onSubmit={(password) =>
          act(() => control.setAccess({ password }), password ? 'Password set' : 'Password removed')
        }
      />
      <label className="check">
        <input
          type="checkbox"
          checked={status?.approval ?? false}
          onChange={(ev) => act(() => control.setAccess({ approval: ev.target.checked }))}
        />
        Let viewers without a link ask to join (you approve each)
      </label>
      {status?.sso && <SignedInAccess sso={status.sso} control={control} act={act} />}
      <label className="check">
        <input
          type="checkbox"
          checked={status?.viewer_resize ?? false}
          onChange={(ev) => act(() => control.setViewerResize(ev.target.checked))}
        />
        Let viewers resize the shared monitor to their window (virtual monitors only; back to its size when
        they leave)
      </label>
      <SecretForm
        id="security-key"
        label="Signing key (at least 32 characters)"
        autoComplete="off"
        submit="Set signing key"
        clearOnSubmit
        onSubmit={(key) =>
          act(() => control.setSecurityKey(key), 'Signing key set; links signed before no longer work')
        }
      />
    </section>
  )
}

/** Single sign-on: who may join once signed in, and whether a link alone still lets people in. */
function SignedInAccess({
  sso,
  control,
  act,
}: {
  sso: NonNullable<NonNullable<SectionProps['state']['status']>['sso']>
} & Pick<SectionProps, 'control' | 'act'>) {
  const [draft, setDraft] = useState(sso.allow.join(', '))
  const entries = () =>
    draft
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)
  return (
    <div className="sso">
      <p>
        Single sign-on through <code>{sso.issuer}</code> · signed-in people let in:{' '}
        {sso.allow.length > 0 ? sso.allow.join(', ') : 'nobody by name yet'}
      </p>
      <form
        onSubmit={(ev) => {
          ev.preventDefault()
          act(() => control.setAccess({ allow: entries() }), 'Allowed list saved')
        }}
      >
        <label>
          People and groups who may join once signed in (e-mail, group:NAME, sub:ID; comma-separated)
          <input
            id="sso-allow"
            type="text"
            value={draft}
            onChange={(ev) => setDraft(ev.target.value)}
            placeholder="alice@example.com, group:support"
          />
        </label>
        <button type="submit">Save list</button>
      </form>
      <label className="check">
        <input
          type="checkbox"
          checked={sso.link_alone}
          onChange={(ev) => act(() => control.setAccess({ linkAlone: ev.target.checked }))}
        />
        A share link alone lets people in (without signing in)
      </label>
    </div>
  )
}
