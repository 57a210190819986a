import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { README_PATH, withFlagReference } from '../../scripts/update-readme.js';
import { runKumaDp } from '../support/kuma-dp.js';

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/testdata/help/', import.meta.url));

/** Every command's --help, kept as golden files (func-e's testdata approach): docs cannot drift silently. */
const HELP_COMMANDS = [[], ['run'], ['wait'], ['version'], ['envoy'], ['envoy', 'install'], ['envoy', 'list'], ['envoy', 'which'], ['envoy', 'remove'], ['bootstrap'], ['bootstrap', 'generate'], ['bootstrap', 'validate']];

describe('documentation stays true', function () {
  it("README's flag reference is the one generated from the flag table (npm run docs)", () => {
    const readme = readFileSync(README_PATH, 'utf8');
    expect(withFlagReference(readme) === readme, 'README.md is stale: run `npm run docs`').to.equal(true);
  });

  for (const command of HELP_COMMANDS) {
    const name = ['kuma-dp', ...command].join(' ');
    it(`\`${name} --help\` matches its golden text`, async () => {
      const result = await runKumaDp([...command, '--help'], { env: { PATH: process.env.PATH, COLUMNS: '100' } });
      expect(result.code).to.equal(0);
      const golden = `${GOLDEN_DIR}${['kuma-dp', ...command].join('_')}.txt`;
      if (process.env.UPDATE_GOLDEN || !existsSync(golden)) writeFileSync(golden, result.stdout);
      expect(result.stdout).to.equal(readFileSync(golden, 'utf8'), `help changed: rerun with UPDATE_GOLDEN=1 and review ${golden}`);
    });
  }
});
