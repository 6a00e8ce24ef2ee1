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
