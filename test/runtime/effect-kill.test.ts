// Exactly-once through an application-defined effect: with the receiver killed with SIGKILL 5
// times at random moments, examples/effect.ts's reducer counts each message exactly once, read
// from its state in the receiver's SQLite after the run (example-kill.ts). CI runs the issue's
// 50,000 (about 20 s here); SF_EXAMPLE_KILL_MESSAGES=N runs another size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runExampleKill } from './example-kill.ts';

const MESSAGES = Number(process.env.SF_EXAMPLE_KILL_MESSAGES ?? 50_000);
const KILLS = 5;

test(`effect example: ${MESSAGES} messages, receiver killed ${KILLS} times: the reducer's state counts each once`, async () => {
  const r = await runExampleKill({
    example: 'effect',
    messages: MESSAGES,
    kills: KILLS,
    timeoutMs: 50_000 + MESSAGES * 4,
  });
  console.log(
    `${r.messages} messages in ${(r.ms / 1000).toFixed(1)} s across ${r.kills} SIGKILLs of the receiver: ` +
      `lost ${r.lost}, duplicated ${r.duplicated} in the reducer's state`,
  );
  assert.equal(r.kills, KILLS);
  assert.equal(r.lost, 0, 'lost');
  assert.equal(r.duplicated, 0, 'duplicated');
});
