/** The root command both CLI entries share (main.ts with the server commands, client-main.ts without). */
import { Command } from 'commander';
import { VERSION } from '../version.ts';

export function createProgram(description: string): Command {
  // Settings made here are inherited by every subcommand created afterwards.
  return (
    new Command('mapvault')
      .description(description)
      .version(VERSION, '-V, --version', 'print the version')
      // `mapvault --version` is the program's; `mapvault upload --version 1.2.3` is the release's.
      .enablePositionalOptions()
      .helpOption('-h, --help', 'show help')
      // A usage error is one line and a pointer, not the whole help text.
      .showHelpAfterError(false)
      .showSuggestionAfterError(true)
      .configureOutput({
        outputError: (text, write) => {
          const oneLine = text
            .replace(/^error: /, '')
            .replace(/\s*\n\s*/g, ' ')
            .trim();
          write(`mapvault: ${oneLine} (see --help)\n`);
        },
      })
  );
}
