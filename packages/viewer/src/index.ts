/*
 * @smoldesk/viewer — the browser app (connect, watch, control, clipboard,
 * files) and the host's local control page. Connection, input encoding and
 * stats will be framework-free TypeScript; React only renders them.
 */
export const VIEWER_PACKAGE = '@smoldesk/viewer'
