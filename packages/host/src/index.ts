export { VirtualDesktop } from './display/embedded/virtual-desktop.ts'
export { Host } from './host.ts'
export type { HostOptions } from './options.ts'
