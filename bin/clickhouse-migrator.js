#!/usr/bin/env node
// The CLI runs from the TypeScript sources through tsx, so a fresh clone needs no build step.
'use strict';
const path = require('node:path');
require('tsx/cjs/api').register();
const { run } = require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
run(process.argv).catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
