import { cpus, loadavg, platform, release, totalmem } from 'node:os';

/**
 * The machine a benchmark or chaos run measured on, for its printout:
 * `2 × AMD EPYC, 24 GiB[, linux 6.1]; node v22.23.3[; load average 0.4 1.2 1.9]`.
 */
export function describeMachine(options: { os?: boolean; loadAverage?: boolean } = {}): string {
  const os = options.os ? `, ${platform()} ${release()}` : '';
  const load = options.loadAverage
    ? `; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`
    : '';
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB${os}; node ${process.version}${load}`;
}
