const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Reads a size as Docker does for --keep-storage: `10GB`, `500MB`, `1.5GiB`, `100k`, `1024`.
 * Every unit is a power of 1024, with or without the `i`, as in Docker's RAMInBytes. Undefined
 * when the text is not a size.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = UNITS[(match[2] ?? '').toLowerCase()] as number;
  return Math.floor(Number(match[1]) * unit);
}
