/**
 * How the remote screen is laid out in the page: fit (all of it, letterboxed),
 * 1:1 (one video pixel per device pixel: sharp, scrolls when larger) or fill
 * (covers the page, edges cut). Plus the local zoom and pan of a pinch.
 */
export type ViewMode = 'fit' | 'actual' | 'fill'

export const VIEW_MODES: Record<ViewMode, string> = { fit: 'Fit', actual: '1:1', fill: 'Fill' }

export interface ViewTransform {
  zoom: number
  /** Translation in CSS pixels, applied after the zoom. */
  panX: number
  panY: number
}

export const NO_ZOOM: ViewTransform = { zoom: 1, panX: 0, panY: 0 }
export const MAX_ZOOM = 4

/** CSS for the video element in a mode; at 1:1 its CSS size is the video's size in device pixels. */
export function videoStyle(
  mode: ViewMode,
  video: { width: number; height: number },
  devicePixelRatio: number,
  view: ViewTransform,
): Record<string, string | number> {
  const transform =
    view.zoom === 1 && view.panX === 0 && view.panY === 0
      ? 'none'
      : `translate(${view.panX}px, ${view.panY}px) scale(${view.zoom})`
  const common = { transform, transformOrigin: '0 0', display: 'block', background: '#000' }
  if (mode === 'actual' && video.width > 0) {
    return {
      ...common,
      width: `${video.width / devicePixelRatio}px`,
      height: `${video.height / devicePixelRatio}px`,
      maxWidth: 'none',
      objectFit: 'fill',
      // Exactly one video pixel per device pixel: nothing to interpolate, so nothing blurs.
      imageRendering: 'pixelated',
    }
  }
  return { ...common, width: '100%', height: '100%', objectFit: mode === 'fill' ? 'cover' : 'contain' }
}

/**
 * Zooms by `factor` about a point (in the element's untransformed CSS
 * pixels), keeping that point where it is: pinch where you want to look.
 * The view never zooms out past 1 or leaves the element's box.
 */
export function zoomAbout(
  view: ViewTransform,
  factor: number,
  at: { x: number; y: number },
  box: { width: number; height: number },
): ViewTransform {
  const zoom = Math.min(MAX_ZOOM, Math.max(1, view.zoom * factor))
  // The point under the fingers, in content coordinates, stays under them.
  const contentX = (at.x - view.panX) / view.zoom
  const contentY = (at.y - view.panY) / view.zoom
  return clampPan({ zoom, panX: at.x - contentX * zoom, panY: at.y - contentY * zoom }, box)
}

/** Moves a zoomed view by (dx, dy) CSS pixels, within bounds. */
export function panBy(
  view: ViewTransform,
  dx: number,
  dy: number,
  box: { width: number; height: number },
): ViewTransform {
  return clampPan({ ...view, panX: view.panX + dx, panY: view.panY + dy }, box)
}

function clampPan(view: ViewTransform, box: { width: number; height: number }): ViewTransform {
  const minX = box.width - box.width * view.zoom
  const minY = box.height - box.height * view.zoom
  return {
    zoom: view.zoom,
    panX: Math.min(0, Math.max(minX, view.panX)),
    panY: Math.min(0, Math.max(minY, view.panY)),
  }
}
