import { expect } from 'chai';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { readToken, TOKEN_INVALID_PREFIX, validateTokenFile, writeInlineToken } from '../../src/token/token.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { rejectionOf } from '../support/errors.js';

/** kuma-dp's validate_test.go fixture: a HS256 JWT. */
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJOYW1lIjoidGVzdCIsIk1lc2giOiJkZWZhdWx0IiwiVGFncyI6e30sIlR5cGUiOiIifQ.rdQ6l_6hzT93Kbk9kO-kZYY7BaexUH8QknvbdRy_f6s';

function segment(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

async function validationError(content: string | undefined): Promise<ConfigError> {
  const dir = makeTempDir('token');
  const path = join(dir, 'token');
  if (content !== undefined) writeFileSync(path, content);
  const error = await rejectionOf(validateTokenFile(path), ConfigError);
  // Whatever the problem, the token text must never be part of the message.
  if (content) {
    for (const piece of content.trim().split(/[.\n]/).filter((p) => p.length >= 4)) {
      expect(error.line, 'error text contains part of the token').to.not.contain(piece);
    }
  }
  return error;
}

describe('dataplane token', () => {
  after(cleanupTempDirs);

  describe('validateTokenFile', () => {
    it('accepts a JWT, with line breaks at the start or end', async () => {
      const dir = makeTempDir('token');
      for (const [i, content] of [JWT, `${JWT}\n`, `\n${JWT}\n`, `  ${JWT}\r\n`].entries()) {
        const path = join(dir, `t${i}`);
        writeFileSync(path, content);
        await validateTokenFile(path);
      }
    });

    it('reports a missing file with kuma-dp\'s prefix', async () => {
      const dir = makeTempDir('token');
      const path = join(dir, 'nonexistingfile');
      const error = await rejectionOf(validateTokenFile(path), ConfigError);
      expect(error.message).to.equal(`${TOKEN_INVALID_PREFIX}: could not read file ${path}: no such file or directory`);
      expect(error.exitCode).to.equal(2);
    });

    it('reports an empty file', async () => {
      const err = await validationError('');
      expect(err.message).to.match(new RegExp(`^${escape(TOKEN_INVALID_PREFIX)}: token under file .+/token is empty$`));
    });

    it('reports a line break inside the token', async () => {
      const err = await validationError(`${JWT.slice(0, 30)}\n${JWT.slice(30)}\n`);
      expect(err.message).to.equal(`${TOKEN_INVALID_PREFIX}: Token shouldn't contain line breaks within the token, only at the start or end`);
      const nul = await validationError(`${JWT.slice(0, 30)}\0${JWT.slice(30)}`);
      expect(nul.message).to.contain("Token shouldn't contain line breaks");
    });

    it('reports a token without three segments', async () => {
      const err = await validationError(JWT.split('.').slice(0, 2).join('.'));
      expect(err.message).to.equal(
        `${TOKEN_INVALID_PREFIX}: not valid JWT token. Can't parse it.: token is malformed: token contains an invalid number of segments`,
      );
    });

    it('reports a header that is not JSON without quoting it (golang-jwt would quote a character)', async () => {
      const err = await validationError(JWT.slice(1));
      expect(err.message).to.equal(`${TOKEN_INVALID_PREFIX}: not valid JWT token. Can't parse it.: token is malformed: could not JSON decode header`);
    });

    it('reports segments that are not base64url', async () => {
      const header = segment({ alg: 'RS256' });
      expect((await validationError(`${header}+/=.${segment({})}.sig`)).message).to.contain('could not base64 decode header');
      expect((await validationError(`${header}.not*base64.sig`)).message).to.contain('could not base64 decode claim');
      expect((await validationError(`${header}.${segment('not json')}.sig`)).message).to.contain('could not JSON decode claim');
    });

    it('reports a missing or unknown alg', async () => {
      expect((await validationError(`${segment({ typ: 'JWT' })}.${segment({ sub: 'x' })}.signature`)).message).to.contain(
        'token is unverifiable: signing method (alg) is unspecified',
      );
      expect((await validationError(`${segment({ alg: 'XX999' })}.${segment({ sub: 'x' })}.signature`)).message).to.contain(
        'token is unverifiable: signing method (alg) is unavailable',
      );
    });
  });

  describe('readToken', () => {
    it('returns the trimmed content and reads the file again on every call', async () => {
      const path = join(makeTempDir('token'), 'token');
      writeFileSync(path, `\n${JWT}\n`);
      expect(await readToken(path)).to.equal(JWT);
      writeFileSync(path, 'rotated-token\n');
      expect(await readToken(path)).to.equal('rotated-token');
    });

    it('names the path when the file is gone', async () => {
      const path = join(makeTempDir('token'), 'gone');
      const error = await rejectionOf(readToken(path));
      expect(error.message).to.equal(`could not read the dataplane token file ${path}: no such file or directory`);
    });
  });

  describe('writeInlineToken', () => {
    it('writes <workdir>/<name> with mode 0600 and returns the path', async () => {
      const dir = makeTempDir('token');
      const previous = process.umask(0o000);
      try {
        const path = await writeInlineToken(dir, 'web-1', JWT);
        expect(path).to.equal(join(dir, 'web-1'));
        expect(readFileSync(path, 'utf8')).to.equal(JWT);
        expect(statSync(path).mode & 0o777).to.equal(0o600);
        expect(readdirSync(dir)).to.deep.equal(['web-1']);
        await validateTokenFile(path);
      } finally {
        process.umask(previous);
      }
    });

    it('refuses a name that is not a file name, without echoing the token', async () => {
      const dir = makeTempDir('token');
      const error = await rejectionOf(writeInlineToken(dir, '../escape', JWT), ConfigError);
      expect(error.line).to.not.contain(JWT.split('.')[0]);
      expect(readdirSync(dir)).to.deep.equal([]);
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
