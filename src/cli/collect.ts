/** Commander value collector for repeatable flags (`-t a -t b`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
