/**
 * Errors the pipeline raises on purpose. Each stage throws its own kind;
 * src/http/errors.ts is the one place that turns them into HTTP statuses.
 */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
}

/** An encode or package step failed after its retries; `log` keeps the tool output. */
export class EncodeError extends Error {
  override name = 'EncodeError';
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(message);
  }
}

/** The origin cannot take this now (queue full, storage full, a content failing): retry later. */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
  constructor(
    message: string,
    /** Seconds the client should wait (Retry-After). */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A signature or token is missing, wrong or expired. */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
}

/** A request body larger than the endpoint accepts. */
export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
}

/** The cache disk is full (or over quota) and nothing more could be evicted: retry once space returns. */
export class StorageFullError extends ServiceUnavailableError {
  override name = 'StorageFullError';
  constructor(readonly code: 'ENOSPC' | 'EDQUOT') {
    super('the cache disk is full', 10);
  }
}

/**
 * An encode that failed every try for a reason in the content itself (the
 * tools refused it, or their output did not match the plan): not a full disk,
 * a hardware encoder or a stall of our own.
 */
export class UnplayableError extends EncodeError {
  override name = 'UnplayableError';
}

/**
 * The file behind a content hash is no longer the one that was hashed
 * (replaced, rewritten, removed, or now a link out of the media root). A 404:
 * nothing new is ever made under the old hash.
 */
export class ContentGoneError extends NotFoundError {
  override name = 'ContentGoneError';
  constructor(message = 'the source of this content has changed or is gone') {
    super(message);
  }
}

/** The content cannot be played (its first segment failed for a reason in the media itself): a 415 with the reason. */
export class UnsupportedMediaError extends Error {
  override name = 'UnsupportedMediaError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** No upstream (an origin behind the edge) could answer. */
export class BadGatewayError extends Error {
  override name = 'BadGatewayError';
}
