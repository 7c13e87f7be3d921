/**
 * The leadership types that the fence, the lease functions and the tasks
 * code all need, in a file that imports nothing, so imports run one way.
 *
 * @module
 */

/** A lease held on an election: who holds it, its fencing term, and when it expires. */
export interface Lease {
  /** The election's name. */
  election: string;
  /** The holder's identity. */
  holder: string;
  /** The fencing token: grows by one on every claim. */
  term: number;
  /** When the database will consider the lease expired (database clock). */
  expiresAt: Date;
}
