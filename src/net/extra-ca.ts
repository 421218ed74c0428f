/**
 * NODE_EXTRA_CA_CERTS names more CAs a user trusts for Node programs. kiln passes its trust to
 * TLS explicitly (which replaces Node's own store), so it reads that file itself. A kiln child
 * process gets the path as KILN_EXTRA_CA_CERTS instead: Node parses NODE_EXTRA_CA_CERTS at every
 * start, which costs a fresh process about 70 ms with Debian's bundle. The bundle's launcher lines
 * (scripts/bundle.mjs) do the same move for the first process when kiln is run as a program.
 */
export const EXTRA_CA_ENV = 'KILN_EXTRA_CA_CERTS';

/** The extra CA file this process should trust, if any. */
export function extraCaFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.NODE_EXTRA_CA_CERTS || env[EXTRA_CA_ENV] || undefined;
}

/** The environment for a kiln child process: the extra CA file moves to EXTRA_CA_ENV. */
export function childTlsEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const extra = extraCaFile(env);
  const { NODE_EXTRA_CA_CERTS: _moved, ...rest } = env;
  return extra === undefined ? rest : { ...rest, [EXTRA_CA_ENV]: extra };
}
