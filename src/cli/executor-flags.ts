/**
 * The flags of the kaniko 1.23 executor, with kaniko's spellings and defaults. Each flag is either
 * mapped onto the build request (`ignored` absent) or accepted with a warning that says why kiln
 * does not need it, so a kaniko job keeps working when only its image changes.
 */

/** pflag value kinds: `list` appends per use, `map` takes `key=value` per use. */
export type FlagKind = 'bool' | 'string' | 'list' | 'map' | 'int' | 'duration';

export interface ExecutorFlag {
  name: string;
  short?: string;
  kind: FlagKind;
  /** kaniko's default, as `--help` shows it; absent means empty. */
  default?: string | boolean;
  help: string;
  /** Set for flags kiln accepts without acting on them: the warning's reason. */
  ignored?: string;
  /** Set for kaniko's deprecated spellings: the flag to use instead. */
  replacedBy?: string;
  /** Hidden in kaniko's own help. */
  hidden?: boolean;
}

const SNAPSHOTS = 'kiln snapshots each step as an overlay upper directory';

export const EXECUTOR_FLAGS: readonly ExecutorFlag[] = [
  {
    name: 'dockerfile',
    short: 'f',
    kind: 'string',
    default: 'Dockerfile',
    help: 'Path to the Dockerfile; as given if it exists, else relative to the context',
  },
  {
    name: 'context',
    short: 'c',
    kind: 'string',
    default: '/workspace/',
    help: 'The build context: a directory, or dir://DIR',
  },
  { name: 'context-sub-path', kind: 'string', help: 'Sub path within the given context' },
  {
    name: 'bucket',
    short: 'b',
    kind: 'string',
    help: 'GCS bucket holding the context as a tarball (not supported)',
    hidden: true,
  },
  {
    name: 'destination',
    short: 'd',
    kind: 'list',
    help: 'Push the image to this reference; repeatable',
  },
  { name: 'no-push', kind: 'bool', default: false, help: 'Do not push the image to the registry' },
  {
    name: 'no-push-cache',
    kind: 'bool',
    default: false,
    help: 'Do not push cache to the cache repository',
  },
  { name: 'tar-path', kind: 'string', help: 'Save the image as a docker archive at this path' },
  {
    name: 'oci-layout-path',
    kind: 'string',
    help: 'Save the image in an OCI image layout directory',
  },
  {
    name: 'digest-file',
    kind: 'string',
    help: 'Write the manifest digest of the image to this file',
  },
  {
    name: 'image-name-with-digest-file',
    kind: 'string',
    help: 'Write NAME@DIGEST for every destination to this file',
  },
  {
    name: 'image-name-tag-with-digest-file',
    kind: 'string',
    help: 'Write NAME:TAG@DIGEST for every destination to this file',
  },
  {
    name: 'build-arg',
    kind: 'list',
    help: 'Set a build arg (K=V, or K to take it from the environment); repeatable',
  },
  { name: 'target', kind: 'string', help: 'Build this stage' },
  { name: 'label', kind: 'list', help: 'Add a label K=V to the image; repeatable' },
  {
    name: 'custom-platform',
    kind: 'string',
    help: 'The platform to build for (default: the host)',
  },
  {
    name: 'reproducible',
    kind: 'bool',
    default: false,
    help: 'Clamp timestamps to SOURCE_DATE_EPOCH (default 0)',
  },
  {
    name: 'cache',
    kind: 'bool',
    default: false,
    help: 'Use the step cache, imported from and exported to --cache-repo',
  },
  {
    name: 'cache-repo',
    kind: 'string',
    help: 'Registry cache repository (default: DESTINATION/cache); oci:DIR for a directory',
  },
  {
    name: 'cache-dir',
    kind: 'string',
    help: "kiln's cache directory (default: kiln's default, not kaniko's /cache)",
  },
  {
    name: 'insecure',
    kind: 'bool',
    default: false,
    help: 'Push to the destination registries over plain HTTP',
  },
  {
    name: 'skip-tls-verify',
    kind: 'bool',
    default: false,
    help: "Push without verifying the destination registries' TLS certificates",
  },
  {
    name: 'insecure-registry',
    kind: 'list',
    help: 'A registry to use over plain HTTP; repeatable',
  },
  {
    name: 'skip-tls-verify-registry',
    kind: 'list',
    help: 'A registry whose TLS certificate is not verified; repeatable',
  },
  { name: 'registry-mirror', kind: 'list', help: 'A mirror for docker.io; repeatable' },
  {
    name: 'registry-map',
    kind: 'map',
    help: 'ORIGINAL=MIRROR[;...]: only docker.io can be remapped',
  },
  {
    name: 'verbosity',
    short: 'v',
    kind: 'string',
    default: 'info',
    help: 'Log level: trace, debug, info, warn, error, fatal, panic',
  },
  {
    name: 'log-format',
    kind: 'string',
    default: 'color',
    help: 'text (plain), color (tty when on a terminal) or json (kiln events)',
  },
  {
    name: 'log-timestamp',
    kind: 'bool',
    default: false,
    help: 'Timestamps in log output',
    ignored: "kiln's progress has no timestamp option",
  },
  {
    name: 'kaniko-dir',
    kind: 'string',
    default: '/kaniko',
    help: 'Where DOCKER_CONFIG defaults to (KANIKO_DIR/.docker)',
  },
  {
    name: 'skip-unused-stages',
    kind: 'bool',
    default: false,
    help: 'kiln always builds only the stages the target needs',
  },
  {
    name: 'force',
    kind: 'bool',
    default: false,
    help: 'Build outside a container',
    ignored: 'kiln never changes the filesystem it runs on',
  },
  {
    name: 'cleanup',
    kind: 'bool',
    default: false,
    help: 'Clean the filesystem at the end',
    ignored: 'kiln never changes the filesystem it runs on',
  },
  {
    name: 'single-snapshot',
    kind: 'bool',
    default: false,
    help: 'One layer for the whole build',
    ignored: 'kiln makes one layer per step',
  },
  {
    name: 'snapshot-mode',
    kind: 'string',
    default: 'full',
    help: 'File attributes compared when snapshotting',
    ignored: SNAPSHOTS,
  },
  {
    name: 'use-new-run',
    kind: 'bool',
    default: false,
    help: 'Experimental RUN implementation',
    ignored: SNAPSHOTS,
  },
  {
    name: 'ignore-path',
    kind: 'list',
    help: 'Leave a path out of snapshots',
    ignored: `${SNAPSHOTS}; nothing outside the image is in it`,
  },
  {
    name: 'ignore-var-run',
    kind: 'bool',
    default: true,
    help: 'Leave /var/run out of snapshots',
    ignored: `${SNAPSHOTS}; nothing outside the image is in it`,
  },
  {
    name: 'compressed-caching',
    kind: 'bool',
    default: true,
    help: 'Compress cached layers',
    ignored: 'kiln caches compressed layers',
  },
  {
    name: 'cache-ttl',
    kind: 'duration',
    default: '336h0m0s',
    help: 'Cache timeout',
    ignored: 'kiln cache entries do not expire; use kiln prune --filter until=DURATION',
  },
  {
    name: 'cache-copy-layers',
    kind: 'bool',
    default: false,
    help: 'Cache COPY layers',
    ignored: 'kiln caches every step',
  },
  {
    name: 'cache-run-layers',
    kind: 'bool',
    default: true,
    help: 'Cache RUN layers',
    ignored: 'kiln caches every step',
  },
  {
    name: 'compression',
    kind: 'string',
    help: 'Layer compression (gzip, zstd)',
  },
  {
    name: 'compression-level',
    kind: 'int',
    default: '-1',
    help: 'Layer compression level',
  },
  {
    name: 'push-retry',
    kind: 'int',
    default: '0',
    help: 'Retries of the push',
    ignored: "kiln's registry client retries transient failures itself",
  },
  {
    name: 'image-fs-extract-retry',
    kind: 'int',
    default: '0',
    help: 'Retries of base image extraction',
    ignored: 'kiln extracts each layer once into the cache',
  },
  {
    name: 'image-download-retry',
    kind: 'int',
    default: '0',
    help: 'Retries of base image downloads',
    ignored: "kiln's registry client retries transient failures itself",
  },
  {
    name: 'push-ignore-immutable-tag-errors',
    kind: 'bool',
    default: false,
    help: 'Ignore tag immutability errors',
    ignored: 'kiln reports every push error',
  },
  {
    name: 'skip-push-permission-check',
    kind: 'bool',
    default: false,
    help: 'Skip the push permission check',
  },
  {
    name: 'skip-default-registry-fallback',
    kind: 'bool',
    default: false,
    help: 'No fallback from mirrors to docker.io',
    ignored: 'kiln falls back to docker.io after its mirrors',
  },
  {
    name: 'insecure-pull',
    kind: 'bool',
    default: false,
    help: 'Pull over plain HTTP',
    ignored:
      'kiln needs the hosts: use --insecure-registry HOST (loopback registries use HTTP anyway)',
  },
  {
    name: 'skip-tls-verify-pull',
    kind: 'bool',
    default: false,
    help: 'Pull without TLS verification',
    ignored: 'kiln needs the hosts: use --skip-tls-verify-registry HOST',
  },
  {
    name: 'registry-certificate',
    kind: 'map',
    help: 'REGISTRY=CERT for TLS',
    ignored: 'put the CA in /etc/docker/certs.d/REGISTRY/ca.crt instead',
  },
  {
    name: 'registry-client-cert',
    kind: 'map',
    help: 'REGISTRY=CERT,KEY for mutual TLS',
    ignored: 'put them in /etc/docker/certs.d/REGISTRY/ instead',
  },
  {
    name: 'git',
    kind: 'string',
    help: 'Branch options for a git context',
    ignored: 'git contexts are not supported',
  },
  {
    name: 'force-build-metadata',
    kind: 'bool',
    default: false,
    help: 'Force metadata layers',
    ignored: 'kiln makes no layers for metadata instructions',
  },
  { name: 'help', short: 'h', kind: 'bool', default: false, help: 'Show this help' },
  // kaniko's deprecated spellings.
  {
    name: 'snapshotMode',
    kind: 'string',
    help: 'Deprecated',
    replacedBy: 'snapshot-mode',
    hidden: true,
  },
  {
    name: 'customPlatform',
    kind: 'string',
    help: 'Deprecated',
    replacedBy: 'custom-platform',
    hidden: true,
  },
  { name: 'tarPath', kind: 'string', help: 'Deprecated', replacedBy: 'tar-path', hidden: true },
  {
    name: 'whitelist-var-run',
    kind: 'bool',
    default: true,
    help: 'Deprecated',
    replacedBy: 'ignore-var-run',
    hidden: true,
  },
];

const BY_NAME = new Map(EXECUTOR_FLAGS.map((f) => [f.name, f]));
const BY_SHORT = new Map(EXECUTOR_FLAGS.filter((f) => f.short).map((f) => [f.short, f]));

export function findFlag(name: string): ExecutorFlag | undefined {
  return BY_NAME.get(name);
}

export function findShortFlag(letter: string): ExecutorFlag | undefined {
  return BY_SHORT.get(letter);
}
