import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { StepRecord } from './step-record.js';

/**
 * Step records in `<cacheDir>/records/<k[0..2]>/<key>.json`. Each record is written to a temp file
 * and renamed, so concurrent kiln processes and killed builds only ever see whole records; a record
 * that fails to parse is treated as a miss.
 */
export class RecordStore {
  private readonly root: string;

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'records');
  }

  private pathOf(key: string): string {
    const hex = key.replace(/^sha256:/, '');
    return path.join(this.root, hex.slice(0, 2), `${hex}.json`);
  }

  async get(key: string): Promise<StepRecord | undefined> {
    try {
      const record = JSON.parse(await fsp.readFile(this.pathOf(key), 'utf8')) as StepRecord;
      return record.key === key ? record : undefined;
    } catch {
      return undefined;
    }
  }

  async put(record: StepRecord): Promise<void> {
    const file = this.pathOf(record.key);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(record));
    await fsp.rename(tmp, file);
  }
}
