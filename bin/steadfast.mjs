#!/usr/bin/env node
// The `steadfast` command. In a checkout (src/ is here) it runs the TypeScript sources through tsx
// (a devDependency), so there is no build step between an edit and a run; installed from the npm
// package (no src/, only the compiled dist/) it runs dist/cli/main.js on plain node.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv);
