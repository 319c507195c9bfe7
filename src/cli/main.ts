/**
 * The `steadfast` command line.
 *
 * Guarantees: every bad flag or value ends with a one-line error that names the flag and what it
 * accepts, and exit code 2; never a stack trace. Exit code 1 means a run found a violation.
 */

import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { checkOutputFile, intArg, nodesOption, probabilityArg, UsageError } from './args.ts';
import { registerSimCommands } from './commands.ts';
import { runDemo } from './demo.ts';
import { registerKvCommand } from './kv-command.ts';
import { registerRuntimeCommands } from './runtime-commands.ts';
import { registerScenarioCommand } from './scenario-command.ts';

/** The version in package.json (the one `npm` installed). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
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
    .showSuggestionAfterError(true)
    .version(packageVersion(), '-V, --version', "print steadfast's version");

  registerSimCommands(program, write, writeErr);
  registerScenarioCommand(program, write, writeErr);
  registerRuntimeCommands(program, write, writeErr);
  registerKvCommand(program, write, writeErr);

  program
    .command('demo')
    .description('simulate links and delivery guarantees side by side under loss and duplication')
    .addOption(
      new Option('--seed <n>', 'seed of the run')
        .default(1)
        .argParser(intArg('--seed', 0, 2 ** 32 - 1)),
    )
    .addOption(nodesOption('simulator'))
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
    .addOption(new Option('--trace <file>', 'write the perfect-link run as JSON Lines'))
    .action(
      (opts: { seed: number; nodes: number; messages: number; loss: number; trace?: string }) => {
        if (opts.trace !== undefined) checkOutputFile('--trace', opts.trace);
        write(runDemo(opts));
      },
    );

  // Subcommands inherit the error handling.
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // A reader that stops early (`steadfast … | head`) is not an error of ours: end quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram(
    (s) => process.stdout.write(s),
    (s) => process.stderr.write(s),
  );
  try {
    process.exitCode = undefined;
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; a usage error has already printed its one line.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`steadfast: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
