/**
 * A JSON array streamed from an async iterator: items are encoded a batch
 * at a time as the client reads (pull), so a million tasks never sit in
 * memory together and a slow client slows the reads instead of filling
 * the heap. Cancelling the response (the client went away) closes the
 * iterator, which stops the reads.
 *
 * @module
 */

const BATCH = 200;
const encoder = new TextEncoder();

/**
 * Streams `[first, …rest]` as a JSON array. The first item is read by the
 * caller before the response is made, so a bad filter or a database down
 * is an error response, not a truncated body; a failure after that
 * aborts the body (the client sees an incomplete array, never a valid one).
 *
 * @param iterator The items after `first`.
 * @param first The first result the caller already read.
 * @param encode One item as JSON text.
 * @param log Told of an error that aborted the stream.
 * @returns The body.
 */
export function jsonArrayStream<T>(
  iterator: AsyncIterator<T>,
  first: IteratorResult<T>,
  encode: (item: T) => string,
  log: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  let pending: IteratorResult<T> | null = first;
  let started = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const parts: string[] = [];
        for (let i = 0; i < BATCH; i++) {
          const next = pending ?? await iterator.next();
          pending = null;
          if (next.done) {
            parts.push(started ? "]" : "[]");
            controller.enqueue(encoder.encode(parts.join("")));
            controller.close();
            return;
          }
          parts.push((started ? "," : "[") + encode(next.value));
          started = true;
        }
        controller.enqueue(encoder.encode(parts.join("")));
      } catch (err) {
        log(err);
        controller.error(err);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  }, { highWaterMark: 1 });
}
