import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { processGroupGone } from '../../src/platform/process-group.js';
import { waitFor, waitForExit } from '../support/wait.js';

/** A group whose leader (a shell that does not exec) exits at once and leaves a member running. */
async function groupOutlivingItsLeader(): Promise<{ pgid: number; member: number }> {
  const shell = spawn('sh', ['-c', 'sleep 30 & echo $!'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  shell.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const member = Number(await waitFor(() => (out.endsWith('\n') ? out.trim() : undefined), { timeoutMs: 5000, what: 'the member pid' }));
  await waitForExit(shell, 5000);
  // Never 0: a kill of pid 0 would hit the test runner's own group.
  expect(member).to.be.above(1);
  return { pgid: shell.pid!, member };
}

describe('processGroupGone', function () {
  this.timeout(10_000);

  it('waits for every member, not the leader: false at the deadline while one runs, true once it is gone', async () => {
    const { pgid, member } = await groupOutlivingItsLeader();
    try {
      const started = Date.now();
      expect(await processGroupGone(pgid, 200), 'the member still runs').to.equal(false);
      expect(Date.now() - started).to.be.within(200, 1500);
      process.kill(-pgid, 'SIGKILL');
      expect(await processGroupGone(pgid, 3000)).to.equal(true);
    } finally {
      try {
        process.kill(member, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('a group that never existed is gone at once', async () => {
    const started = Date.now();
    expect(await processGroupGone(2 ** 22 - 7, 5000)).to.equal(true);
    expect(Date.now() - started).to.be.below(1000);
  });
});
