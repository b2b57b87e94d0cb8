import { z } from 'zod';

/**
 * Imported first, before any schema exists: zod would otherwise probe `new Function` while building the task
 * schemas, which the page's CSP (no 'unsafe-eval') blocks and reports as a violation. Without code
 * generation zod checks edits all the same.
 */
z.config({ jitless: true });
