#!/usr/bin/env node
// The `steadfast` command. Sources are TypeScript, loaded through tsx (a runtime dependency), so
// there is no build step between a checkout and a run.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
