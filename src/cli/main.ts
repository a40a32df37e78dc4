#!/usr/bin/env node
// tknp's entry point: runs the command line (cli.ts); an error ends the process with one line on
// stderr, `<ErrorName>: <message>`, and exit code 1.
import { runCli } from './cli.js';

runCli(process.argv.slice(2)).catch((e: Error) => {
  console.error(`${e.name ?? 'Error'}: ${e.message}`);
  process.exit(1);
});
