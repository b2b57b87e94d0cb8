import { readFileSync } from 'node:fs';
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

/** Clock ticks a second in /proc (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1000;
}

/** A process's resident memory now (VmRSS) or its peak since it started (VmHWM), in MiB. */
export function processMemoryMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) / 1024;
}

/**
 * The machine's CPU time so far, from the first line of /proc/stat (all cores, in ticks): busy (everything
 * but idle and iowait) and steal (time the hypervisor gave to other machines: a shared VM's noise).
 */
export function machineTicks(): { busy: number; steal: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  return {
    busy: user + nice + system + irq + softirq,
    steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}
