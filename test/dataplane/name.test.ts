import { expect } from 'chai';
import { effectiveName } from '../../src/dataplane/name.js';

describe('effectiveName', () => {
  const pod = { POD_NAME: 'web-7d9f', POD_NAMESPACE: 'shop' };

  it('derives POD_NAME.POD_NAMESPACE for an empty name', () => {
    expect(effectiveName('', pod)).to.equal('web-7d9f.shop');
    expect(effectiveName(undefined, pod)).to.equal('web-7d9f.shop');
  });

  it('derives it for a name with an unexpanded reference', () => {
    for (const name of ['$(POD_NAME)', '${POD_NAME}', 'web-{x}', 'a(b']) {
      expect(effectiveName(name, pod), name).to.equal('web-7d9f.shop');
    }
  });

  it('keeps a plain name', () => {
    expect(effectiveName('web-1', pod)).to.equal('web-1');
  });

  it('needs both POD_NAME and POD_NAMESPACE', () => {
    expect(effectiveName('', { POD_NAME: 'web' })).to.equal('');
    expect(effectiveName('$(POD_NAME)', { POD_NAMESPACE: 'shop' })).to.equal('$(POD_NAME)');
    expect(effectiveName('', { POD_NAME: 'web', POD_NAMESPACE: '' })).to.equal('');
  });
});
