import { expect } from 'chai';

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** The error `fn` throws, checked to be a `kind`; a test fails when nothing is thrown. */
export function thrownBy<E extends Error = Error>(fn: () => unknown, kind?: ErrorClass<E>): E {
  try {
    fn();
  } catch (err) {
    if (kind) expect(err).to.be.instanceOf(kind);
    return err as E;
  }
  throw new Error(`expected ${kind?.name ?? 'an error'} to be thrown`);
}

/** The error `promise` rejects with, checked to be a `kind`; a test fails when it resolves. */
export async function rejectionOf<E extends Error = Error>(promise: Promise<unknown>, kind?: ErrorClass<E>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    if (kind) expect(err).to.be.instanceOf(kind);
    return err as E;
  }
  throw new Error(`expected a rejection${kind ? ` with ${kind.name}` : ''}`);
}
