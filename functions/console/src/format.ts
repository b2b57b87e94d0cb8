/** How times and numbers read on the page. */

export function timeLeft(dueAt: string, now: number): { text: string; overdue: boolean; soon: boolean } {
  const due = Date.parse(dueAt);
  if (Number.isNaN(due)) return { text: '—', overdue: false, soon: false };
  const ms = due - now;
  const abs = Math.abs(ms);
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = Math.floor((abs % 60_000) / 1000);
  const body =
    h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min ${String(s).padStart(2, '0')} s`;
  return ms < 0
    ? { text: `overdue by ${body}`, overdue: true, soon: false }
    : { text: body, overdue: false, soon: ms < 30 * 60_000 };
}

export const percent = (x: number, digits = 0): string => `${(x * 100).toFixed(digits)} %`;
export const score = (x: number): string => x.toFixed(2);

export function clockTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function age(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3_600)} h ${Math.floor((seconds % 3_600) / 60)} min`;
}

export const taskTitle = (task: string): string =>
  ({
    'medication-extraction': 'Medication extraction',
    'clinical-summary': 'Clinical summary',
    'icd10-suggestion': 'ICD-10 suggestion',
  })[task] ?? task;
