/**
 * Thrown by a build that runs outside the namespaces (so it may only use the cache) when a step
 * has to execute. It is a signal, not a failure: the caller builds again inside the namespaces.
 */
export class SandboxNeeded extends Error {
  constructor(readonly step: string) {
    super(`${step} is not cached and must run inside the sandbox`);
    this.name = 'SandboxNeeded';
  }
}
