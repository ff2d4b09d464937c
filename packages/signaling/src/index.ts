/*
 * @smoldesk/signaling — rooms, auth, relay of offer/answer/ICE, TURN
 * credentials and Redis scale-out. The message schemas it will speak live in
 * @smoldesk/protocol; the server itself arrives with the video issue (in-memory
 * rooms) and is hardened by the signaling/security issue.
 */
export const SIGNALING_PACKAGE = '@smoldesk/signaling'
