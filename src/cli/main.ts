#!/usr/bin/env node
import { Command } from 'commander';
import { registerServerCommands } from './server-commands.ts';
import { registerClientCommands } from './commands.ts';

const program = new Command('mapvault')
  .description('mapvault: self-hosted JavaScript sourcemap service (Guance RUM sourcemap API compatible)')
  .showHelpAfterError();
registerServerCommands(program);
registerClientCommands(program);
await program.parseAsync(process.argv);
