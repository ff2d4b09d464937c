import type { ResizeBackend } from '../resize-service.ts'
import { isVirtualMonitor, maxScreenSize, setVirtualMonitorSize } from './randr-resize.ts'

/** Resizing on an X display: the dummy driver's virtual outputs take any size through xrandr. */
export function x11ResizeBackend(display: string): ResizeBackend {
  return {
    canResize: isVirtualMonitor,
    maxScreen: () => maxScreenSize(display),
    setSize: (monitors, index, width, height) =>
      setVirtualMonitorSize(display, monitors, index, width, height),
  }
}
