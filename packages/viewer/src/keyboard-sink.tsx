import { useEffect, useRef } from 'react'
import type { InputCapture } from './input.ts'

/**
 * The on-screen keyboard: focusing this brings up a phone's keyboard; what
 * it types goes to the host. Focus it through the ref it is given.
 */
export function KeyboardSink({
  input,
  sinkRef,
}: {
  input: () => InputCapture | undefined
  sinkRef: React.RefObject<HTMLTextAreaElement | null>
}) {
  const inputRef = useRef(input)
  inputRef.current = input
  // The native beforeinput event (React's onBeforeInput drops spaces).
  useEffect(() => {
    const sink = sinkRef.current
    if (!sink) return
    const onInput = (ev: InputEvent) => {
      // An input method's text is typed when it is composed, not while (see compositionend).
      if (ev.isComposing || ev.inputType === 'insertCompositionText') return
      ev.preventDefault()
      if (ev.data) inputRef.current()?.sendText(ev.data)
    }
    const onComposed = (ev: CompositionEvent) => {
      if (ev.data) inputRef.current()?.sendText(ev.data)
      sink.value = ''
    }
    sink.addEventListener('beforeinput', onInput)
    sink.addEventListener('compositionend', onComposed)
    return () => {
      sink.removeEventListener('beforeinput', onInput)
      sink.removeEventListener('compositionend', onComposed)
    }
  }, [sinkRef])
  return (
    <textarea
      ref={sinkRef}
      className="keyboard-sink"
      aria-label="On-screen keyboard input"
      autoCapitalize="off"
      autoComplete="off"
      spellCheck={false}
      value=""
      onChange={() => {}}
      onKeyDown={(ev) => {
        const code = { Backspace: 'Backspace', Enter: 'Enter', Tab: 'Tab', Escape: 'Escape' }[ev.key]
        if (!code) return
        ev.preventDefault()
        inputRef.current()?.tapKey(code)
      }}
    />
  )
}
