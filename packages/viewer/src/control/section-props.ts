import type { ControlState, HostControl } from './control-model.ts'

/** What every section of the control page gets: the model's state, the model, and a way to act with feedback. */
export interface SectionProps {
  state: ControlState
  control: HostControl
  act: (what: () => Promise<void>, done?: string) => void
}
