import { useEffect, useState } from 'react'

/** The toolbar hides after this long without the pointer near it. */
const TOOLBAR_HIDE_MS = 2500
/** The pointer this close to the top edge brings the toolbar back. */
const TOOLBAR_REVEAL_PX = 48

/**
 * The toolbar is shown while not connected, near the top edge, or while it
 * holds focus; hidden otherwise. Returns whether it is hidden, and the
 * setter for the handle and for Ctrl+Alt+Shift.
 */
export function useToolbarAutoHide(connected: boolean): [boolean, (hidden: boolean) => void] {
  const [hidden, setHidden] = useState(false)
  useEffect(() => {
    if (!connected) {
      setHidden(false)
      return
    }
    // A toolbar control that holds focus (chosen with the keyboard, or a select just used) keeps
    // it shown: the first timer too, not only those after a pointer move.
    const hideLater = () =>
      setTimeout(() => {
        if (!document.activeElement?.closest('.toolbar')) setHidden(true)
      }, TOOLBAR_HIDE_MS)
    let timer = hideLater()
    const onMove = (ev: PointerEvent) => {
      if (ev.pointerType === 'touch') return
      if (ev.clientY > TOOLBAR_REVEAL_PX && (ev.target as Element | null)?.closest('.toolbar')) return
      if (ev.clientY <= TOOLBAR_REVEAL_PX) setHidden(false)
      clearTimeout(timer)
      timer = hideLater()
    }
    const onFocus = (ev: FocusEvent) => {
      if ((ev.target as Element | null)?.closest?.('.toolbar')) setHidden(false)
    }
    document.addEventListener('pointermove', onMove)
    document.addEventListener('focusin', onFocus)
    return () => {
      clearTimeout(timer)
      document.removeEventListener('pointermove', onMove)
      document.removeEventListener('focusin', onFocus)
    }
  }, [connected])
  return [hidden, setHidden]
}
