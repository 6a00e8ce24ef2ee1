import type { Context } from 'hono';

/**
 * Who is playing, for prefetch: the player's own session id when it sends
 * one (AVPlayer: X-Playback-Session-Id), else its address and user agent.
 * Behind the edge the address is the first X-Forwarded-For entry (the edge
 * appends the viewer's address to what it was given).
 */
export function clientOf(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return clientFrom(c.req.header('x-playback-session-id'), c.req.header('x-forwarded-for'), c.req.header('user-agent'), incoming?.socket?.remoteAddress);
}

/** The same from the request's headers and socket address (the warm-segment front has no Hono context). */
export function clientFrom(session: string | undefined, forwardedFor: string | undefined, userAgent: string | undefined, remoteAddress: string | undefined): string {
  if (session) return `session:${session.slice(0, 128)}`;
  const address = forwardedFor?.split(',')[0]?.trim() || remoteAddress || '?';
  return `${address}|${(userAgent ?? '').slice(0, 256)}`;
}
