/**
 * A module loaded on first use and then shared. Provider SDKs are loaded this way: every function imports
 * the adapters (through the composition root), but only the inference API builds providers, and only for
 * the kinds its routing names, so the review functions never pay the SDKs' ~40 MiB of memory and start-up.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load();
    return loading;
  };
}
