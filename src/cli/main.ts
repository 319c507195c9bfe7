/**
 * The `steadfast` command line.
 *
 * Guarantees: every bad flag or value ends with a one-line error that names the flag and what it
 * accepts, and exit code 2; never a stack trace. Exit code 1 means a run found a violation.
 */

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runDemo } from './demo.ts';

/** Parses an integer flag within bounds, or throws commander's one-line error. */
export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${name} must be an integer in ${min}..${max}, got "${value}".`,
      );
    }
    return n;
  };
}

/** Parses a probability flag in [0, 1]. */
export function probabilityArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
      throw new InvalidArgumentError(`${name} must be a number in [0, 1], got "${value}".`);
    }
    return n;
  };
}

export function buildProgram(write: (s: string) => void, writeErr: (s: string) => void): Command {
  const program = new Command();
  program
    .name('steadfast')
    .description(
      'Fault-tolerant message passing: one protocol core, a deterministic simulator and a real runtime.',
    )
    .exitOverride()
    .configureOutput({
      writeOut: write,
      writeErr,
      outputError: (s, w) => {
        w(s);
      },
    })
    .showSuggestionAfterError(true);

  program
    .command('demo')
    .description('simulate fair-loss and stubborn links side by side under message loss')
    .addOption(
      new Option('--seed <n>', 'seed of the run')
        .default(1)
        .argParser(intArg('--seed', 0, 2 ** 32 - 1)),
    )
    .addOption(
      new Option('--nodes <n>', 'number of nodes').default(5).argParser(intArg('--nodes', 2, 100)),
    )
    .addOption(
      new Option('--messages <n>', 'messages each node sends to each other node')
        .default(20)
        .argParser(intArg('--messages', 1, 10_000)),
    )
    .addOption(
      new Option('--loss <p>', 'probability a message is lost')
        .default(0.3)
        .argParser(probabilityArg('--loss')),
    )
    .addOption(new Option('--trace <file>', 'write the stubborn-link run as JSON Lines'))
    .action(
      (opts: { seed: number; nodes: number; messages: number; loss: number; trace?: string }) => {
        write(runDemo(opts));
      },
    );

  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram(
    (s) => process.stdout.write(s),
    (s) => process.stderr.write(s),
  );
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; a usage error has already printed its one line.
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`steadfast: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
