import type { Plan } from '../../plan/plan.js';

/**
 * A protected plan: the same cuts and renditions, each rendition id carrying
 * the scheme and the key source's tag ("720p-1a2b3c4d-cbcs-5e6f7a8b"). Rendition ids
 * are in every segment URL and store path, so turning protection on or off,
 * changing the scheme, the seed or the key service gives other URLs: a
 * cache never serves clear bytes under a protected URL, nor the reverse, nor
 * bytes under another key. (The key id itself is checked in every init read
 * back: validate.ts.)
 */
export function protectPlan(plan: Plan, scheme: 'cenc' | 'cbcs', tag: string): Plan {
  const suffix = `-${scheme}-${tag}`;
  return {
    ...plan,
    protection: { scheme, tag },
    renditions: plan.renditions.map((r) => ({ ...r, id: r.id + suffix })),
    audio: plan.audio.map((a) => ({ ...a, id: a.id + suffix })),
  };
}
