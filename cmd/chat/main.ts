#!/usr/bin/env node
// `chat`: a terminal client of the chat server. This file only declares the commands; each one is
// implemented in commands/, output formats are in output.ts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { CliContext, type GlobalOptions } from './cli-context';
import { conversationsCommand } from './commands/conversations';
import { groupAddCommand, groupCreateCommand, groupListCommand, groupMembersCommand, groupRemoveCommand } from './commands/group';
import { historyCommand } from './commands/history';
import { presenceCommand } from './commands/presence';
import { sendCommand } from './commands/send';
import { tailCommand } from './commands/tail';
import { tokenCommand } from './commands/token';
import { describeError } from './output';

function context(command: Command): CliContext {
  return new CliContext(command.optsWithGlobals<GlobalOptions>());
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100_000) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function messageId(value: string): string {
  if (!/^[1-9]\d{0,19}$/.test(value)) throw new InvalidArgumentError('expected a message id (a decimal number)');
  return value;
}

function buildProgram(): Command {
  const program = new Command('chat')
    .description('terminal client of the chat server')
    .addOption(new Option('--server <url>', 'server HTTP base URL').env('CHAT_SERVER').default('http://127.0.0.1:8080'))
    .addOption(new Option('--user <id>', 'act as this user, with a dev token (dev-mode servers)').env('CHAT_USER'))
    .addOption(new Option('--token <jwt>', 'act with this token (overrides --user)').env('CHAT_TOKEN'))
    .addOption(new Option('--device <id>', 'device id (default: cli-<user>)').env('CHAT_DEVICE'))
    .option('--json', 'machine-readable output: one JSON value per line')
    .showHelpAfterError();

  program
    .command('token <user>')
    .description('print a dev token for a user')
    .action((user: string, _opts: unknown, cmd: Command) => tokenCommand(context(cmd), user));

  program
    .command('send <target> <text...>')
    .description('send a message; target is a conversation id (dm:a:b, g:<id>) or a user id (a DM); prints its id')
    .action((target: string, text: string[], _opts: unknown, cmd: Command) => sendCommand(context(cmd), target, text));

  program
    .command('tail')
    .description('print messages and presence as they come (replaying what this device missed first)')
    .action((_opts: unknown, cmd: Command) => tailCommand(context(cmd)));

  program
    .command('history <target>')
    .description('print a page of a conversation, oldest first')
    .option('--limit <n>', 'page size', positiveInt)
    .option('--before <id>', 'only messages older than this message id', messageId)
    .action((target: string, opts: { limit?: number; before?: string }, cmd: Command) => historyCommand(context(cmd), target, opts));

  program
    .command('conversations')
    .description('list my conversations, newest first')
    .option('--limit <n>', 'page size', positiveInt)
    .option('--before <id>', 'only conversations whose last message is older than this id', messageId)
    .action((opts: { limit?: number; before?: string }, cmd: Command) => conversationsCommand(context(cmd), opts));

  const group = program.command('group').description('manage groups');
  group
    .command('create <name> [members...]')
    .description('create a group with me as admin')
    .action((name: string, members: string[], _opts: unknown, cmd: Command) => groupCreateCommand(context(cmd), name, members));
  group
    .command('add <groupId> <users...>')
    .description('add members (admins only)')
    .action((groupId: string, users: string[], _opts: unknown, cmd: Command) => groupAddCommand(context(cmd), groupId, users));
  group
    .command('remove <groupId> <users...>')
    .description('remove members (admins), or leave by naming myself')
    .action((groupId: string, users: string[], _opts: unknown, cmd: Command) => groupRemoveCommand(context(cmd), groupId, users));
  group
    .command('list')
    .description('list my groups')
    .action((_opts: unknown, cmd: Command) => groupListCommand(context(cmd)));
  group
    .command('members <groupId>')
    .description("list a group's members")
    .action((groupId: string, _opts: unknown, cmd: Command) => groupMembersCommand(context(cmd), groupId));

  program
    .command('presence <users...>')
    .description('show the presence of users I share a conversation with')
    .action((users: string[], _opts: unknown, cmd: Command) => presenceCommand(context(cmd), users));

  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    const { code, message } = describeError(err);
    process.stderr.write(`error: ${code}: ${message}\n`);
    process.exitCode = 1;
  });
