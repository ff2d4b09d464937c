import { useState } from 'react'

/**
 * A labelled secret (a password, a key) and its submit button, for the
 * viewer's join form and the control page's settings: typed hidden, never
 * kept by the browser's autofill unless `autoComplete` says so.
 */
export function SecretForm({
  id,
  label,
  autoComplete,
  submit,
  onSubmit,
  clearOnSubmit = false,
  draft,
}: {
  id: string
  label: string
  autoComplete: 'current-password' | 'new-password' | 'off'
  submit: string
  onSubmit: (value: string) => void
  /** Empty the field once submitted (a setting made; a join attempt keeps what was typed). */
  clearOnSubmit?: boolean
  /** Keep what is typed outside (it then outlives the form, e.g. while the page says it is connecting). */
  draft?: [string, (value: string) => void]
}) {
  const own = useState('')
  const [value, setValue] = draft ?? own
  return (
    <form
      onSubmit={(ev) => {
        ev.preventDefault()
        onSubmit(value)
        if (clearOnSubmit) setValue('')
      }}
    >
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="password"
        autoComplete={autoComplete}
        value={value}
        onChange={(ev) => setValue(ev.target.value)}
      />
      <button type="submit">{submit}</button>
    </form>
  )
}
