/**
 * Linearizability of a client history (Herlihy & Wing 1990): is there a total order of the
 * operations, consistent with real time (an operation that returned before another was called
 * comes first), in which every operation's output is what a sequential object would answer?
 *
 * Algorithm: Wing & Gong's search with Lowe's memo ("Testing for linearizability", CC:P&E 2017),
 * as Porcupine does it: walk the call/return events in time order, tentatively linearize an
 * operation at its call if the model accepts its output, backtrack when a return is reached
 * whose operation is not yet linearized, and never revisit a (set of linearized operations,
 * model state) pair. P-compositionality: a model that partitions the history (a key-value map,
 * key by key) has each part checked on its own, since a history is linearizable iff each part is.
 *
 * Operations are definite (`ok`: it happened, with this output) or indefinite (`unknown`: it
 * timed out or its client crashed; it may or may not have happened, its output is unknown). An
 * indefinite operation returns at +∞, so it may be linearized at any point after its call,
 * including after everything else (= it never happened); the model steps it with output
 * `undefined`, which a model must accept as "any output".
 *
 * Guarantees: the verdict is `ok` only if a linearization exists, `violation` only if none does;
 * when the search exceeds its step budget (or its deadline) the verdict is `unknown`, never a
 * pass. A violation carries the part (key) that fails and a 1-minimal failing sub-history of it
 * (removing any one more operation makes it linearizable), found within the same budget.
 * Proven against a brute-force search over every real-time-consistent order
 * (linearizability.test.ts).
 * Assumes: operation ids are unique; `call ≤ ret` for definite operations; the model is pure.
 */

/** One client operation. `ret` absent: indefinite (see the header). */
export interface Operation<I, O> {
  readonly id: number;
  readonly client: string;
  readonly input: I;
  /** The output; `undefined` for an indefinite operation. */
  readonly output: O | undefined;
  readonly call: number;
  /** When it returned; `undefined` when it is indefinite. */
  readonly ret?: number;
}

export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  /**
   * The state after applying `input` to `state` if `output` is what the object answers there
   * (`output` undefined: any output), else undefined (this order is not legal here).
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A string equal for equal states (the memo's key). */
  key(state: S): string;
  /** Independent parts of a history (default: one part). */
  partition?(ops: readonly Operation<I, O>[]): Map<string, Operation<I, O>[]>;
  describe?(op: Operation<I, O>): string;
}

export type LinearizabilityVerdict<I, O> =
  | { readonly result: 'ok'; readonly parts: number; readonly steps: number }
  | {
      readonly result: 'violation';
      readonly part: string;
      /** A 1-minimal non-linearizable sub-history of that part. */
      readonly minimal: readonly Operation<I, O>[];
      readonly steps: number;
    }
  | {
      readonly result: 'unknown';
      readonly part: string;
      readonly reason: string;
      readonly steps: number;
    };

export interface CheckOptions {
  /** Search steps (linearization attempts) in all, before the verdict is `unknown`. */
  readonly stepBudget?: number;
  /** An injected clock and a deadline on it (ms), checked every 1,024 steps. */
  readonly now?: () => number;
  readonly deadlineMs?: number;
}

const DEFAULT_STEP_BUDGET = 5_000_000;

interface Entry {
  readonly op: number; // index into ops of the part
  readonly isCall: boolean;
  readonly time: number;
  prev: Entry | undefined;
  next: Entry | undefined;
  /** For a call: its return entry. */
  match: Entry | undefined;
}

class Budget {
  steps = 0;
  constructor(
    private readonly max: number,
    private readonly now: (() => number) | undefined,
    private readonly deadline: number | undefined,
  ) {}
  /** False once the budget or the deadline is spent. */
  spend(): boolean {
    this.steps++;
    if (this.steps > this.max) return false;
    if ((this.steps & 1023) === 0 && this.now !== undefined && this.deadline !== undefined) {
      return this.now() < this.deadline;
    }
    return true;
  }
}

/** Fixed-size bit set with a string key (the memo's half). */
class Bits {
  private readonly words: Uint32Array;
  constructor(n: number) {
    this.words = new Uint32Array(Math.ceil(n / 32) + 1);
  }
  set(i: number): void {
    this.words[i >>> 5] = (this.words[i >>> 5] ?? 0) | (1 << (i & 31));
  }
  clear(i: number): void {
    this.words[i >>> 5] = (this.words[i >>> 5] ?? 0) & ~(1 << (i & 31));
  }
  key(): string {
    return this.words.join(',');
  }
}

type SearchResult = 'ok' | 'violation' | 'unknown';

/** Wing–Gong–Lowe search over one part. */
function search<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  budget: Budget,
): SearchResult {
  if (ops.length === 0) return 'ok';
  // Events in time order; at equal times calls first (touching intervals count as concurrent).
  const events: Entry[] = [];
  ops.forEach((op, i) => {
    const call: Entry = {
      op: i,
      isCall: true,
      time: op.call,
      prev: undefined,
      next: undefined,
      match: undefined,
    };
    const ret: Entry = {
      op: i,
      isCall: false,
      time: op.ret ?? Number.POSITIVE_INFINITY,
      prev: undefined,
      next: undefined,
      match: undefined,
    };
    call.match = ret;
    events.push(call, ret);
  });
  events.sort(
    (a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1),
  );
  const head: Entry = {
    op: -1,
    isCall: false,
    time: -Infinity,
    prev: undefined,
    next: undefined,
    match: undefined,
  };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  const lift = (call: Entry): void => {
    // Unlink the call and its return.
    for (const e of [call, call.match as Entry]) {
      if (e.prev !== undefined) e.prev.next = e.next;
      if (e.next !== undefined) e.next.prev = e.prev;
    }
  };
  const unlift = (call: Entry): void => {
    for (const e of [call.match as Entry, call]) {
      if (e.prev !== undefined) e.prev.next = e;
      if (e.next !== undefined) e.next.prev = e;
    }
  };
  const linearized = new Bits(ops.length);
  const memo = new Set<string>();
  const stack: { call: Entry; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  while (head.next !== undefined) {
    if (!budget.spend()) return 'unknown';
    if (entry === undefined) return 'violation'; // cannot happen: a return ends every walk
    if (entry.isCall) {
      const op = ops[entry.op] as Operation<I, O>;
      const next = model.step(state, op.input, op.output);
      if (next !== undefined) {
        linearized.set(entry.op);
        const k = `${linearized.key()}|${model.key(next)}`;
        if (!memo.has(k)) {
          memo.add(k);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.clear(entry.op);
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation is not linearized yet: undo the last choice.
    const top = stack.pop();
    if (top === undefined) return 'violation';
    state = top.state;
    linearized.clear(top.call.op);
    unlift(top.call);
    entry = top.call.next;
  }
  return 'ok';
}

/**
 * A 1-minimal failing sub-history: drop operations one at a time (latest call first) while the
 * rest still fails. Stops early (keeping what it has) when the budget runs out.
 */
function minimize<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  budget: Budget,
): Operation<I, O>[] {
  let current = [...ops];
  let changed = true;
  while (changed) {
    changed = false;
    const order = [...current].sort((a, b) => b.call - a.call);
    for (const op of order) {
      const candidate = current.filter((o) => o !== op);
      const r = search(model, candidate, budget);
      if (r === 'unknown') return current;
      if (r === 'violation') {
        current = candidate;
        changed = true;
      }
    }
  }
  return current;
}

export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): LinearizabilityVerdict<I, O> {
  const budget = new Budget(opts.stepBudget ?? DEFAULT_STEP_BUDGET, opts.now, opts.deadlineMs);
  const parts = model.partition?.(history) ?? new Map([['', [...history]]]);
  // Smaller parts first: a violation in a small part is found (and minimized) cheaply.
  const ordered = [...parts].sort((a, b) => a[1].length - b[1].length);
  for (const [part, ops] of ordered) {
    const r = search(model, ops, budget);
    if (r === 'unknown') {
      return {
        result: 'unknown',
        part,
        reason: `search budget spent (${budget.steps} steps) in part ${JSON.stringify(part)} of ${ops.length} operations`,
        steps: budget.steps,
      };
    }
    if (r === 'violation') {
      const minimal = minimize(model, ops, budget);
      return { result: 'violation', part, minimal, steps: budget.steps };
    }
  }
  return { result: 'ok', parts: parts.size, steps: budget.steps };
}

// ------------------------------------------------------------------------------------ models

/** Inputs of the key-value store (the replicated stores' operations). */
export type KvInput =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put'; readonly key: string; readonly value: unknown }
  | { readonly f: 'delete'; readonly key: string }
  | { readonly f: 'incr'; readonly key: string; readonly delta: number }
  | { readonly f: 'cas'; readonly key: string; readonly from: unknown; readonly to: unknown };

/**
 * Outputs: get → the value or null (absent); put, delete → null; incr → the new value (null,
 * with no change, when the value is not a number); cas → true (swapped) or false (the value was
 * not `from`). The same specification as `applyOp` in src/protocols/kv/types.ts.
 */
export type KvOutput = unknown;

/** Canonical JSON (sorted keys) for comparing plain values. */
function canon(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canon(o[k])}`)
    .join(',')}}`;
}

/**
 * One register per key with get, put, delete, incr (absent counts as 0) and cas; partitioned by
 * key. The state of a part is its key's value (null: absent).
 */
export const kvModel: Model<unknown, KvInput, KvOutput> = {
  name: 'key-value register (get, put, delete, incr, cas)',
  init: () => null,
  step(state, input, output) {
    switch (input.f) {
      case 'get':
        return output === undefined || canon(output) === canon(state) ? state : undefined;
      case 'put':
        return input.value;
      case 'delete':
        return null;
      case 'incr': {
        const base = typeof state === 'number' ? state : state === null ? 0 : undefined;
        // Incr of a non-number changes nothing and answers null.
        if (base === undefined) return output === undefined || output === null ? state : undefined;
        const next = base + input.delta;
        return output === undefined || output === next ? next : undefined;
      }
      case 'cas': {
        const swapped = canon(state) === canon(input.from);
        if (output === undefined) return swapped ? input.to : state;
        if (output === true) return swapped ? input.to : undefined;
        if (output === false) return swapped ? undefined : state;
        return undefined;
      }
    }
  },
  key: canon,
  partition(ops) {
    const parts = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of ops) {
      const list = parts.get(op.input.key) ?? [];
      list.push(op);
      parts.set(op.input.key, list);
    }
    return parts;
  },
  describe(op) {
    const i = op.input;
    const args =
      i.f === 'put'
        ? ` ${canon(i.value)}`
        : i.f === 'incr'
          ? ` ${i.delta}`
          : i.f === 'cas'
            ? ` ${canon(i.from)}→${canon(i.to)}`
            : '';
    const out = op.ret === undefined ? '?' : canon(op.output);
    return `${op.client} ${i.f}(${i.key}${args}) → ${out}`;
  },
};
