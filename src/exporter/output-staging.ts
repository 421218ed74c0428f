/**
 * Outputs are all or nothing: each exporter writes into a temp place next to its destination and
 * registers how to move it into place. Only when every output (pushes included) has succeeded are
 * the moves made; after any failure the temp places are removed and earlier outputs stay as they
 * were.
 */
export class OutputStaging {
  private readonly commits: (() => Promise<void>)[] = [];
  private readonly discards: (() => Promise<void>)[] = [];

  stage(commit: () => Promise<void>, discard: () => Promise<void>): void {
    this.commits.push(commit);
    this.discards.push(discard);
  }

  async commitAll(): Promise<void> {
    for (const commit of this.commits) await commit();
    this.commits.length = 0;
    this.discards.length = 0;
  }

  async discardAll(): Promise<void> {
    for (const discard of this.discards) await discard().catch(() => {});
    this.commits.length = 0;
    this.discards.length = 0;
  }
}
