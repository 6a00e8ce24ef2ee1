import type { Context } from 'hono';

/**
 * Who is playing, for prefetch: the player's own session id when it sends
 * one (AVPlayer: X-Playback-Session-Id), else its address and user agent.
 * Behind the edge the address is the first X-Forwarded-For entry (the edge
 * appends the viewer's address to what it was given).
 */
export function clientOf(c: Context): string {
  const session = c.req.header('x-playback-session-id');
  if (session) return `session:${session.slice(0, 128)}`;
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  const address = c.req.header('x-forwarded-for')?.split(',')[0]?.trim() || incoming?.socket?.remoteAddress || '?';
  return `${address}|${(c.req.header('user-agent') ?? '').slice(0, 256)}`;
}
