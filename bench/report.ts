/**
 * Turns the bench's samples into a text table (stdout), docs/bench.md and docs/bench.svg: medians
 * of wall time and peak RSS per scenario and tool, and each anchor's time over kiln's.
 */
import { median } from './measure.js';

export interface Sample {
  scenario: string;
  tool: string;
  wallMs: number;
  cpuMs: number;
  peakRssKb: number;
  /** kiln's own processes only; 0 for other tools. */
  ownRssKb: number;
}

export interface Row {
  scenario: string;
  tool: string;
  runs: number;
  medianS: number;
  minS: number;
  maxS: number;
  /** Median user + system CPU seconds of the process tree. */
  cpuS: number;
  rssMiB: number;
  /** Median peak RSS of kiln's own processes (without its RUN steps); 0 for other tools. */
  ownRssMiB: number;
  /** The tool's median time over kiln's in the same scenario (kiln's own row: 1). */
  vsKiln: number;
}

export function summarize(samples: Sample[], scenarios: string[], tools: string[]): Row[] {
  const rows: Row[] = [];
  for (const scenario of scenarios) {
    const of = (tool: string) => samples.filter((s) => s.scenario === scenario && s.tool === tool);
    const kiln = median(of('kiln').map((s) => s.wallMs));
    for (const tool of tools) {
      const mine = of(tool);
      if (mine.length === 0) continue;
      const wall = mine.map((s) => s.wallMs);
      rows.push({
        scenario,
        tool,
        runs: mine.length,
        medianS: median(wall) / 1000,
        minS: Math.min(...wall) / 1000,
        maxS: Math.max(...wall) / 1000,
        cpuS: median(mine.map((s) => s.cpuMs)) / 1000,
        rssMiB: median(mine.map((s) => s.peakRssKb)) / 1024,
        ownRssMiB: median(mine.map((s) => s.ownRssKb)) / 1024,
        vsKiln: median(wall) / kiln,
      });
    }
  }
  return rows;
}

const HEAD = [
  'scenario',
  'tool',
  'runs',
  'median s',
  'min-max s',
  'CPU s',
  'peak RSS MiB',
  'own RSS MiB',
  'time / kiln',
];

function cells(r: Row): string[] {
  return [
    r.scenario,
    r.tool,
    String(r.runs),
    r.medianS.toFixed(2),
    `${r.minS.toFixed(2)}-${r.maxS.toFixed(2)}`,
    r.cpuS.toFixed(2),
    r.rssMiB.toFixed(0),
    r.ownRssMiB > 0 ? r.ownRssMiB.toFixed(0) : '-',
    Number.isFinite(r.vsKiln) ? `${r.vsKiln.toFixed(2)}x` : '-',
  ];
}

export function textTable(rows: Row[]): string {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return `${[line(HEAD), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cells(r)))].join('\n')}\n`;
}

export function markdownTable(rows: Row[]): string {
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  return [line(HEAD), line(HEAD.map(() => '---')), ...rows.map((r) => line(cells(r)))].join('\n');
}

const COLORS: Record<string, string> = {
  kiln: '#d9480f',
  buildkit: '#1971c2',
  buildah: '#2f9e44',
  'tar|pigz': '#868e96',
  'generate (host)': '#ced4da',
};

function escapeXml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * Horizontal bars, one group per scenario, each group scaled to its own slowest tool (the
 * scenarios differ by two orders of magnitude), with the median seconds written on each bar.
 */
export function barChart(rows: Row[], title: string): string {
  const scenarios = [...new Set(rows.map((r) => r.scenario))];
  const barH = 16;
  const gap = 4;
  const labelW = 230;
  const plotW = 420;
  const parts: string[] = [];
  let y = 40;
  for (const scenario of scenarios) {
    const group = rows.filter((r) => r.scenario === scenario);
    const max = Math.max(...group.map((r) => r.medianS));
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${escapeXml(scenario)}</text>`);
    y += 20;
    for (const r of group) {
      const w = Math.max(1, (r.medianS / max) * plotW);
      const color = COLORS[r.tool] ?? '#495057';
      parts.push(
        `<text x="${labelW - 8}" y="${y + 12}" text-anchor="end">${escapeXml(r.tool)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`,
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 12}">${r.medianS.toFixed(2)} s</text>`,
      );
      y += barH + gap;
    }
    y += 12;
  }
  const width = labelW + plotW + 90;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" `,
    `viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif" font-size="12">\n`,
    `<rect width="100%" height="100%" fill="#ffffff"/>\n`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>\n`,
    parts.join('\n'),
    '\n</svg>\n',
  ].join('');
}
