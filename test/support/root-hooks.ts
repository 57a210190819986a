import { killLeftoverKumaDps } from './kuma-dp.js';

/**
 * Registered in .mocharc.json: a failing test must not leave kuma-dp (and through its
 * parent-death signal, Envoy) running, holding ports and CPU for the tests after it.
 */
export const mochaHooks = {
  afterEach(this: Mocha.Context) {
    const killed = killLeftoverKumaDps();
    if (killed > 0 && this.currentTest?.state === 'passed') {
      throw new Error(`the test left ${killed} kuma-dp process(es) running`);
    }
  },
};
