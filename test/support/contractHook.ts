import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ApiName } from '../../functions/src/http/contract/openApiDocument.js';
import { ContractValidator } from './contractValidator.js';

/**
 * The shared harness's contract check: every answer a gateway function gives in the integration tests is
 * validated against the OpenAPI document as it leaves the server (whatever client sent the request), and
 * what departs from the document is kept until the root hooks' `afterEach` fails the running test with it.
 */

let validator: ContractValidator | undefined;
let violations: string[] = [];

/** Violations recorded since the last call. */
export function takeContractViolations(): string[] {
  const taken = violations;
  violations = [];
  return taken;
}

/** Validates every answer `server` gives against the document's operations of `api`; returns `server`. */
export function checkAnswersAgainstContract<S extends Server>(server: S, api: ApiName): S {
  validator ??= new ContractValidator();
  const check = validator;
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    const keep = (chunk: unknown, encoding?: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      chunks.push(
        typeof chunk === 'string'
          ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
          : Buffer.from(chunk as Uint8Array),
      );
    };
    const write = res.write;
    const end = res.end;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      keep(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      keep(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as ServerResponse['end'];
    res.on('finish', () => {
      let found: string[];
      try {
        found = check.check({
          api,
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          status: res.statusCode,
          headers: res.getHeaders(),
          body: Buffer.concat(chunks),
        });
      } catch (error) {
        found = [`${req.method} ${req.url} → ${res.statusCode}: could not be checked: ${String(error)}`];
      }
      violations.push(...found);
    });
  });
  return server;
}
