/**
 * Paths anyone may read when an admin token is set, besides the players'
 * (signed) paths: the UI's files and the health check. Exact routed paths
 * only: any other spelling needs the token (deny by default). Web-standard
 * only, so the edge's admin guard uses this same list.
 */
export const UI_PATHS = {
  index: '/',
  script: '/ui/app.js',
  style: '/ui/style.css',
  hls: '/ui/vendor/hls.min.js',
} as const;

const PUBLIC_PATHS: ReadonlySet<string> = new Set([...Object.values(UI_PATHS), '/healthz']);

export const isPublicPath = (routed: string): boolean => PUBLIC_PATHS.has(routed);
