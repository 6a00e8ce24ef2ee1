/**
 * Request headers the edge and the origin agree on.
 */

/** Set by the edge on its own prefetch requests: the origin queues them as prefetch, behind players. */
export const PREFETCH_HEADER = 'x-jitseg-prefetch';

/** Request headers the edge passes on to the origin (who the viewer is, what they may do). */
export const FORWARDED_REQUEST_HEADERS = ['accept', 'user-agent', 'authorization', 'x-playback-session-id', 'last-event-id'] as const;
