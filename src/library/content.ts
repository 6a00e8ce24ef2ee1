import type { Plan } from '../plan/plan.js';
import type { ProbeResult } from '../probe/types.js';

/** What a content is, as the API shows it and the registry records it. */
export interface ContentMetadata {
  hash: string;
  /** Relative to the media root, with forward slashes. */
  path: string;
  size: number;
  mtimeMs: number;
  registeredAt: string;
  container: string;
  durationSeconds: number;
  video: { codec: string; width: number; height: number; frameRate: number };
  audio: { index: number; codec: string; language: string; channels: number }[];
}

export interface Content {
  metadata: ContentMetadata;
  /** The source's real path when it was identified. Encodes read it through withSource, never by this path alone. */
  absolutePath: string;
  probe: ProbeResult;
  plan: Plan;
  /**
   * Checks now (no throttle) that the file behind this content is still the
   * one that was hashed; throws ContentGoneError (404) when it is not.
   */
  verifySource(): Promise<void>;
  /**
   * Runs `work` with a path that reads exactly the hashed file: the file is
   * checked and opened first, and `sourcePath` leads to that open file (on
   * Linux /proc/<pid>/fd/<n>, so a rename or symlink swap of the real path
   * meanwhile changes nothing). After `work` the open file is checked again:
   * if it was written to, the result is discarded and the work redone once
   * on the current file when its bytes are still this content's, else
   * ContentGoneError is thrown.
   */
  withSource<T>(work: (sourcePath: string) => Promise<T>): Promise<T>;
}
