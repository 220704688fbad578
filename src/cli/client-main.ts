#!/usr/bin/env node
// The entry of the CLI-only package (packages/cli): the client commands, no server and no native dependency.
import { registerClientCommands } from './commands.ts';
import { createProgram } from './program.ts';

const program = createProgram('mapvault CLI: upload sourcemaps and resolve stacks against mapvault or any Guance-compatible endpoint');
registerClientCommands(program);
await program.parseAsync(process.argv);
