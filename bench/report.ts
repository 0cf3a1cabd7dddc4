// Tables for the terminal and for bench/RESULTS.md, and the section-wise update of RESULTS.md: a run replaces
// only the section whose heading it writes and leaves every other section as it was.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export type Cell = string | number | null;

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function fmtRate(flops: number, ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms <= 0) return '—';
  const g = flops / (ms * 1e6);
  return g >= 100 ? g.toFixed(0) : g >= 10 ? g.toFixed(1) : g.toFixed(2);
}

export function fmtRatio(num: number | null | undefined, den: number | null | undefined): string {
  if (!num || !den || !Number.isFinite(num) || !Number.isFinite(den)) return '—';
  return `${(num / den).toFixed(2)}x`;
}

/** Left-aligned first column, right-aligned numbers, padded to the widest cell. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const align = header.map((_, i) => (i === 0 ? ':---' : '---:'));
  return [header, align, ...rows].map((r) => `| ${r.map(esc).join(' | ')} |`).join('\n');
}

const PREAMBLE = `# convis benchmark results

Each section is one benchmark on one machine, written by \`npm run bench -- <name>\`; a later run on the same
machine replaces its own section and leaves the others alone. The command that produced a section is in it.
`;

/**
 * Writes `body` under `heading` (a "## ..." line) in the file: replaces the section from that heading to the
 * next "## " heading, or appends it when the file has no such section.
 */
export function updateSection(path: string, heading: string, body: string): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : PREAMBLE;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  const section = [heading, '', ...body.trimEnd().split('\n'), ''];
  let out: string[];
  if (start < 0) {
    const trimmed = [...lines];
    while (trimmed.length > 0 && trimmed[trimmed.length - 1].trim() === '') trimmed.pop();
    out = [...trimmed, '', ...section];
  } else {
    let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
    if (end < 0) end = lines.length;
    out = [...lines.slice(0, start), ...section, ...lines.slice(end)];
  }
  writeFileSync(path, out.join('\n').replace(/\n*$/, '\n'));
}
