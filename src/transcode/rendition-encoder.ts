import type { Content } from '../library/media-library.js';
import type { Protector } from '../package/drm/protector.js';
import type { Rendition } from '../plan/renditions.js';
import type { SegmentStore } from '../store/segment-store.js';
import { initFileOf } from '../store/segment-files.js';
import type { EncoderSelector, VideoEncoderName } from './encoders.js';

/**
 * The encoder a video rendition's segments must use (its segments' SPS/PPS
 * are its encoder's): the one recorded beside its init segment, or, for a
 * rendition not started yet, the one in use now.
 */
export class RenditionEncoders {
  constructor(
    private readonly segments: SegmentStore,
    private readonly encoders: EncoderSelector,
    private readonly protector: Protector | undefined,
  ) {}

  async of(content: Content, found: Rendition): Promise<{ encoder: VideoEncoderName; fixed: boolean }> {
    // The HDR-keeping HEVC rendition is libx265's whatever the ladder uses: never a hardware failure or fallback.
    if (found.kind === 'video' && found.rendition.hevc) return { encoder: 'libx264', fixed: true };
    const init = initFileOf(this.segments, content, found, this.protector);
    const recorded = await this.segments.encoderOf(init);
    if (recorded) return { encoder: recorded as VideoEncoderName, fixed: true };
    // Renditions started before encoders were recorded were made with libx264.
    if (await this.segments.read(init)) return { encoder: 'libx264', fixed: true };
    return { encoder: this.encoders.current, fixed: false };
  }

  /** Makes `encoder` the rendition's unless it has one (recorded beside its init); false when it has another. */
  async fix(content: Content, found: Rendition, encoder: VideoEncoderName | undefined): Promise<boolean> {
    return !encoder || (await this.segments.recordEncoder(initFileOf(this.segments, content, found, this.protector), encoder)) === encoder;
  }
}
