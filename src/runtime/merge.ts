/**
 * Merging the traces of several runtime nodes (and their supervisor) into one trace the checkers
 * of src/check accept.
 *
 * Guarantees: the result is sorted by time `t` (stable: at equal times, the order of the input
 * lists, then each list's own order), so every node's own events keep their order. Message ids
 * are renumbered: every `send` gets a fresh id, unique in the merged trace, and every `receive`
 * (and typed `drop`) takes the id of the latest earlier send with the same sender, receiver and
 * message content (frames carry no id, so content is the link; a retransmission of the same
 * bytes matches its latest copy). A receive with no such send keeps a fresh id of its own.
 * Assumes: the traces come from nodes of one host (their `t` are Unix-epoch milliseconds of one
 * clock, see driver.ts), so sorting by `t` orders a send before its receipt: a frame leaves only
 * after the sender's commit, which is far longer than the clocks' skew.
 */

import { traceReplacer, type TraceEvent } from '../core/trace.ts';

export function mergeTraces(lists: readonly (readonly TraceEvent[])[]): TraceEvent[] {
  const tagged: { e: TraceEvent; list: number; i: number }[] = [];
  lists.forEach((list, l) => {
    list.forEach((e, i) => tagged.push({ e, list: l, i }));
  });
  tagged.sort((a, b) => a.e.t - b.e.t || a.list - b.list || a.i - b.i);
  let nextId = 1;
  const latest = new Map<string, number>();
  const key = (from: string, to: string, msg: unknown) =>
    `${from}\0${to}\0${JSON.stringify(msg, traceReplacer)}`;
  const out: TraceEvent[] = [];
  for (const { e } of tagged) {
    if (e.type === 'send') {
      const id = nextId++;
      latest.set(key(e.from, e.to, e.msg), id);
      out.push({ ...e, id });
    } else if (e.type === 'receive') {
      out.push({ ...e, id: latest.get(key(e.from, e.to, e.msg)) ?? nextId++ });
    } else if (e.type === 'drop') {
      out.push({ ...e, id: nextId++ });
    } else {
      out.push(e);
    }
  }
  return out;
}

/** Parses JSON Lines trace text (blank lines skipped). Byte arrays stay in `{"$hex"}` form. */
export function parseTraceLines(lines: Iterable<string>): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    out.push(JSON.parse(line) as TraceEvent);
  }
  return out;
}
