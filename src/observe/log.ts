import { pino, type Logger } from 'pino';

/**
 * Structured logs (pino): JSON lines for machines, pretty lines when a person
 * watches a terminal. Each HTTP request gets a request id (X-Request-Id, or
 * a new one) that its encode's log lines carry too.
 */

export type { Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Human-readable lines (default: when stdout is a terminal). */
  pretty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    level: options.level ?? process.env.JITSEG_LOG_LEVEL ?? 'info',
    base: { app: 'jitseg' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,app' } } } : {}),
  });
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger = (): Logger => pino({ level: 'silent' });
