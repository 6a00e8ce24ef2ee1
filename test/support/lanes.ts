/**
 * At most `count` bodies at once, in the order they asked: for concurrent
 * tests that may share the machine but not pile up on one origin (each waits
 * for a lane inside its own test, so its own timeout still bounds it).
 */
export function lanes(count: number): <T>(body: () => Promise<T>) => Promise<T> {
  let free = count;
  const waiting: (() => void)[] = [];
  return async (body) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await body();
    } finally {
      // Hand the lane straight to the next waiter, or give it back.
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}
