import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../../src/package-root.js';
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

  it('FAULTS.md names only tests that exist, in the files it names', () => {
    // Every test's titles as mocha sees them, generated ones included; nothing runs.
    const listing = execFileSync(
      process.execPath,
      [join(PACKAGE_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--dry-run', '--reporter', join(PACKAGE_ROOT, 'test', 'support', 'titles-reporter.cjs')],
      { cwd: PACKAGE_ROOT, encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const tests = listing
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { file: string; titlePath: string[] });
    const problems = faultProofs(readFileSync(join(PACKAGE_ROOT, 'FAULTS.md'), 'utf8')).flatMap(({ file, title }) => {
      // dist/ may hold the compiled tests of a source file since deleted.
      if (!existsSync(join(PACKAGE_ROOT, file))) return [`${file}: no such file`];
      const inFile = tests.filter((test) => test.file.endsWith(join('dist', file.replace(/\.ts$/, '.js'))));
      if (inFile.length === 0) return [`${file}: no tests`];
      return title === undefined || inFile.some((test) => namesTest(test.titlePath, title)) ? [] : [`${file} › ${title}`];
    });
    expect(problems).to.deep.equal([]);
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

/**
 * The "Proven by" cells of FAULTS.md: `file › title`, `› title` for another test in the same file,
 * or `file (what its tests cover)`, joined by ` · `. `…` in a title stands for words left out.
 */
function faultProofs(markdown: string): { file: string; title?: string }[] {
  const proofs: { file: string; title?: string }[] = [];
  for (const row of markdown.split('\n').filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))) {
    const cell = row.split('|').slice(1, -1).at(-1)!.trim();
    if (cell === 'Proven by') continue;
    let file = '';
    for (const part of cell.split(' · ')) {
      const match = /^(test\/\S+\.ts)?\s*(?:› (.+)|\(.+\))$/.exec(part.trim());
      if (!match) throw new Error(`FAULTS.md: cannot read "${part}" in: ${row}`);
      file = match[1] ?? file;
      proofs.push(match[2] === undefined ? { file } : { file, title: match[2] });
    }
  }
  return proofs;
}

/**
 * Whether `title` names the test: the test's own title, or its suites' titles from one of them on
 * and then its own, whole; `…` stands for words left out, at either end too.
 */
function namesTest(titlePath: string[], title: string): boolean {
  const pieces = title.split('…').map((piece) => piece.trim());
  if (pieces.every((piece) => piece === '')) return false;
  return titlePath.some((_, from) => {
    const full = titlePath.slice(from).join(' ');
    let at = 0;
    return pieces.every((piece, i) => {
      const first = i === 0;
      const last = i === pieces.length - 1;
      if (piece === '') return true;
      const found = first ? 0 : last ? full.length - piece.length : full.indexOf(piece, at);
      if (found < at || !full.startsWith(piece, found) || (last && found + piece.length !== full.length)) return false;
      at = found + piece.length;
      return true;
    });
  });
}
