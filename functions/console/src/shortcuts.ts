import { useEffect, useRef } from 'preact/hooks';

/** The daily path on the keyboard; the same list is shown on the page. */
export const queueShortcuts = [
  ['j', 'next item in the list'],
  ['k', 'previous item in the list'],
  ['o', 'open the selected item (or the first)'],
] as const;

export const itemShortcuts = [
  ['a', 'approve (with your edits, if any)'],
  ['e', 'edit: go to the first field of the proposal'],
  ['r', 'reject'],
  ['n', 'next item'],
  ['p', 'previous item'],
  ['q', 'back to the queue'],
] as const;

const typing = (target: EventTarget | null): boolean =>
  target instanceof HTMLElement &&
  (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));

/** Calls `handlers[key]` for a plain key press outside text fields. */
export function useShortcuts(handlers: Record<string, () => void>): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
      const handler = ref.current[e.key];
      if (!handler) return;
      e.preventDefault();
      handler();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
