/**
 * Free loopback ports. Other engineers run tests on this machine at the same
 * time, so the suite never assumes a fixed port: it asks the kernel for one.
 *
 * @module
 */

/** `n` distinct ports that were free on 127.0.0.1 a moment ago. */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}
