/**
 * A <select> over a fixed list of values: what comes back is one of
 * `options` (found by its string form), typed as such, so no caller casts
 * the DOM's string.
 */
export function Choice<T extends string | number>(props: {
  /** The control's accessible name; leave out when a <label htmlFor={id}> names it. */
  label?: string
  id?: string
  value: T
  options: readonly T[]
  onChange: (value: T) => void
  disabled?: boolean
  /** How an option reads (its string form by default). */
  describe?: (value: T) => string
}) {
  const { label, id, value, options, onChange, disabled, describe } = props
  return (
    <select
      {...(label !== undefined && { 'aria-label': label })}
      {...(id !== undefined && { id })}
      disabled={disabled}
      value={String(value)}
      onChange={(ev) => {
        const picked = options.find((o) => String(o) === ev.target.value)
        if (picked !== undefined) onChange(picked)
      }}
    >
      {options.map((o) => (
        <option key={String(o)} value={String(o)}>
          {describe ? describe(o) : String(o)}
        </option>
      ))}
    </select>
  )
}
