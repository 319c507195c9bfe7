// Runs `steadfast` runtime commands (node, cluster) in-process for tests: what they write to
// stdout and stderr, and the exit code (2 for a usage error, printed as main.ts prints it).
import { Command, CommanderError } from 'commander';
import { UsageError } from '../../src/cli/args.ts';
import { registerRuntimeCommands } from '../../src/cli/runtime-commands.ts';

function exitCode(): number {
  const c: unknown = process.exitCode;
  return typeof c === 'number' ? c : 0;
}

export async function runCli(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const program = new Command().exitOverride().configureOutput({
    writeOut: (s) => (out += s),
    writeErr: (s) => (err += s),
  });
  registerRuntimeCommands(
    program,
    (s) => (out += s),
    (s) => (err += s),
  );
  const before = process.exitCode;
  process.exitCode = 0;
  let code: number;
  try {
    await program.parseAsync(['node', 'steadfast', ...args]);
    code = exitCode();
  } catch (e) {
    // As main.ts: commander's usage errors printed their line; a UsageError is printed here.
    if (e instanceof UsageError) err += `error: ${e.message}\n`;
    else if (!(e instanceof CommanderError)) throw e;
    code = 2;
  } finally {
    process.exitCode = before;
  }
  return { out, err, code };
}
