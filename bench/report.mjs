// bench/report.mjs: what every benchmark here prints the same way: Markdown tables, quantiles, the
// CPU's name, and the version of a competitor installed in bench/node_modules.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** A Markdown table: the first column left-aligned, the others (numbers) right-aligned. */
export function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/** The `q` quantile of `values` (nearest rank: the smallest value with at least q of them at or below
 * it); NaN when there are none. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The CPU's model name from /proc/cpuinfo (os.cpus() leaves it empty on riscv64 and arm64 boards). */
export function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {}
  return cpus()[0]?.model ?? 'unknown';
}

/** The version of a package installed in bench/node_modules, or '?'. */
export function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return '?';
  }
}
