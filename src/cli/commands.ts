import type { Command } from 'commander';
import { registerInject } from './inject.ts';
import { registerManage } from './manage.ts';
import { registerSymbolicate } from './symbolicate.ts';
import { registerUpload } from './upload.ts';

/** The client commands (they talk to any Guance-compatible endpoint over HTTP). */
export function registerClientCommands(program: Command): void {
  registerUpload(program);
  registerSymbolicate(program);
  registerManage(program);
  registerInject(program);
}
