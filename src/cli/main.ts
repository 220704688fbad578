#!/usr/bin/env node
import { registerServerCommands } from './server-commands.ts';
import { registerClientCommands } from './commands.ts';
import { createProgram } from './program.ts';

const program = createProgram('mapvault: self-hosted JavaScript sourcemap service (Guance RUM sourcemap API compatible)');
registerServerCommands(program);
registerClientCommands(program);
await program.parseAsync(process.argv);
