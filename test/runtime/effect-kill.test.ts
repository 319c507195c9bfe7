// Exactly-once through an application-defined effect: with the receiver killed with SIGKILL 5
// times at random moments, examples/effect.ts's reducer counts each message exactly once, read
// from its state in the receiver's SQLite after the run (example-kill.ts). CI runs the issue's
// 50,000 (about 20 s here); SF_EXAMPLE_KILL_MESSAGES=N runs another size.
import { test } from 'node:test';
import { KILL_MESSAGES, KILLS, runExampleKillChecked } from './example-kill.ts';

test(`effect example: ${KILL_MESSAGES} messages, receiver killed ${KILLS} times: the reducer's state counts each once`, async () => {
  const r = await runExampleKillChecked('effect');
  console.log(
    `${r.messages} messages in ${(r.ms / 1000).toFixed(1)} s across ${r.kills} SIGKILLs of the receiver: ` +
      `lost ${r.lost}, duplicated ${r.duplicated} in the reducer's state`,
  );
});
