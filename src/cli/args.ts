/**
 * Argument checks shared by every `steadfast` subcommand: the usage error, number parsers, the
 * one definition of each `--nodes` range, and the checks of output paths.
 *
 * Guarantees: every check fails with one line that names the flag, the value and what to do
 * (UsageError, or commander's InvalidArgumentError while parsing; both exit 2, see main.ts).
 * Output paths are checked before a run starts, so a long matrix is not lost to a typo in
 * `--out`; a write that still fails (the disk filled up meanwhile) is reported the same way.
 * Assumes: a leaf module (it imports no other CLI module, so every one of them can use it).
 */

import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { makeDirs } from '../platform/dirs.ts';

/** A usage mistake found after parsing (in an action): printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function intArg(name: string, min: number, max: number, why?: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${name} must be an integer in ${min}..${max}${why === undefined ? '' : ` (${why})`}, got "${value}".`,
      );
    }
    return n;
  };
}

export function probabilityArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
      throw new InvalidArgumentError(`${name} must be a number in [0, 1], got "${value}".`);
    }
    return n;
  };
}

/**
 * How many nodes each kind of run accepts, and why. One simulated run is one process whatever N
 * is; the matrix multiplies a run by protocols × fault models × seeds; a real cluster is one OS
 * process per node.
 */
export const NODE_RANGES = {
  simulator: {
    min: 2,
    max: 200,
    why: 'a simulated run is one process; 200 nodes take seconds to minutes',
  },
  matrix: {
    min: 2,
    max: 50,
    why: 'every cell runs --seeds runs of every protocol, 18,000 runs by default',
  },
  cluster: {
    min: 2,
    max: 20,
    why: 'one OS process per node, each with SQLite and a commit thread; more starve a small machine',
  },
} as const;

/** The `--nodes` option of a kind of run: its range and the reason in --help and in errors. */
export function nodesOption(kind: keyof typeof NODE_RANGES, defaultNodes = 5): Option {
  const r = NODE_RANGES[kind];
  return new Option('--nodes <n>', `nodes, ${r.min}..${r.max}: ${r.why}`)
    .default(defaultNodes)
    .argParser(intArg('--nodes', r.min, r.max, r.why));
}

function errno(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

/**
 * Refuses an output file that cannot be written: its directory is missing or not a directory,
 * the path is a directory, or nothing may be written there. Creates nothing.
 */
export function checkOutputFile(flag: string, file: string): void {
  const abs = resolve(file);
  let isFile = false;
  try {
    const st = statSync(abs);
    if (st.isDirectory()) {
      throw new UsageError(`${flag} ${file}: is a directory; give a file name inside it.`);
    }
    isFile = true;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (errno(err) !== 'ENOENT') {
      throw new UsageError(`${flag} ${file}: cannot use (${errno(err)}); choose another path.`);
    }
  }
  const dir = dirname(abs);
  let dirOk: boolean;
  try {
    dirOk = statSync(dir).isDirectory();
  } catch {
    dirOk = false;
  }
  if (!dirOk) {
    throw new UsageError(
      `${flag} ${file}: the directory ${dir} does not exist; create it (mkdir -p ${dir}) or choose another path.`,
    );
  }
  try {
    accessSync(isFile ? abs : dir, constants.W_OK);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: not writable (${errno(err)}); choose a writable path.`);
  }
}

/** Creates an output directory (and its parents), or refuses it naming the flag. */
export function ensureOutputDir(flag: string, dir: string): void {
  try {
    makeDirs(dir);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const at = e.path === undefined || resolve(e.path) === resolve(dir) ? '' : ` at ${e.path}`;
    throw new UsageError(
      `${flag} ${dir}: cannot create a writable directory there (${errno(err)}${at}); choose another path.`,
    );
  }
}

/** Writes an output file; a failure is a usage error naming the flag (not a bare ENOENT). */
export function writeOutput(flag: string, file: string, data: string): void {
  try {
    writeFileSync(file, data);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: cannot write (${errno(err)}); choose a writable path.`);
  }
}
