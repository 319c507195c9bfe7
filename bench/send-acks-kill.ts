/**
 * Issue 19's send-acknowledgement check at its full size: 50,000 exactly-once messages, the
 * sender killed with SIGKILL 5 times mid-stream, an application that resends exactly what it has
 * not seen `accepted` (same idempotency key); prints what the receiver's SQLite says was lost and
 * duplicated (test/runtime/resend-app.ts; CI runs the same with 20,000 in
 * test/runtime/send-acks-kill.test.ts). Exit code 1 if anything was lost or duplicated.
 *
 * Usage: node --import tsx bench/send-acks-kill.ts [--messages 50000] [--kills 5] [--window 2000]
 */

import { runResendApp } from '../test/runtime/resend-app.ts';
import { intFlag } from './args.ts';

const args = process.argv.slice(2);
const messages = intFlag(args, 'messages', 50_000);
const kills = intFlag(args, 'kills', 5);
const windowMax = intFlag(args, 'window', 2000);
const r = await runResendApp({
  messages,
  kills,
  windowMax,
  timeoutMs: 600_000,
  log: (s) => {
    console.log(`  ${s}`);
  },
});
console.log(
  `${r.messages} exactly-once messages, sender killed ${r.kills} times, ${(r.ms / 1000).toFixed(1)} s ` +
    `(${Math.round((r.messages / r.ms) * 1000)} msg/s, acks printed per message): ` +
    `${r.resent} resent as not accepted, ${r.keyDuplicatesDropped} copies dropped by key at the ` +
    `receiver; lost ${r.lost}, duplicated ${r.duplicated} (counter n=${r.counter.n})`,
);
process.exitCode = r.lost === 0 && r.duplicated === 0 && r.counter.n === r.messages ? 0 : 1;
