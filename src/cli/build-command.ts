import { Command, Option } from 'commander';
import type { BuildFlags } from './build-options.js';
import { collect } from './collect.js';

/** Declares `kiln build` with Docker/buildx spellings; `action` gets the context and the flags. */
export function buildCommand(
  action: (context: string, flags: BuildFlags) => Promise<void>,
): Command {
  return new Command('build')
    .description('Build an image from a Dockerfile and a context directory')
    .argument('<context>', 'the build context: a directory')
    .option('-f, --file <path>', 'the Dockerfile (relative to the current directory; - for stdin)')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
    .option('--target <stage>', 'build only up to this stage')
    .option(
      '--build-arg <key[=value]>',
      'set a build arg; without =value, from the environment',
      collect,
      [],
    )
    .option('--label <key=value>', 'add a label to the image (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'target platform (default: the host platform)')
    .option(
      '-o, --output <spec>',
      'output: type=oci|docker|local|tar|image|registry,... (repeatable)',
      collect,
      [],
    )
    .option('--push', 'push the image to the registry of every -t name')
    .option('--cache-dir <dir>', 'the local cache directory')
    .option('--no-cache', 'do not use the cache for any step')
    .option(
      '--cache-from <spec>',
      'import cache: type=registry,ref=R | type=local,src=DIR',
      collect,
      [],
    )
    .option(
      '--cache-to <spec>',
      'export cache: type=registry,ref=R[,mode=min|max] | type=local,dest=DIR',
      collect,
      [],
    )
    .option(
      '--secret <spec>',
      'expose a secret to RUN --mount=type=secret: id=ID[,src=PATH|,env=VAR]',
      collect,
      [],
    )
    .option('--ssh <spec>', 'forward an SSH agent socket: default|ID[=SOCKET]', collect, [])
    .addOption(
      new Option('--network <mode>', 'network of RUN steps')
        .choices(['default', 'none', 'host'])
        .default('default'),
    )
    .addOption(
      new Option('--progress <mode>', 'progress output')
        .choices(['auto', 'tty', 'plain', 'json', 'quiet'])
        .default('auto'),
    )
    .option('--metadata-file <file>', 'write the build result metadata (JSON) to this file')
    .option('--iidfile <file>', 'write the image ID (config digest) to this file')
    .option(
      '--insecure-registry <host[:port]>',
      'allow plain HTTP or unverified TLS (repeatable)',
      collect,
      [],
    )
    .option('--registry-mirror <host>', 'a mirror for docker.io (repeatable)', collect, [])
    .addOption(
      new Option('--isolation <mode>', 'how RUN steps are isolated')
        .choices(['auto', 'userns', 'chroot', 'none'])
        .default('auto'),
    )
    .action(action);
}
