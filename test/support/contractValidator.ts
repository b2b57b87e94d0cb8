import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { isConsolePath } from '../../functions/src/http/consoleAssets.js';
import {
  type ApiName,
  apis,
  buildOpenApiDocument,
  type OpenApiDocument,
} from '../../functions/src/http/contract/openApiDocument.js';

/**
 * Checks an HTTP answer against the OpenAPI document: that its status is documented for the operation, that
 * its headers are the documented ones (required ones present, every value fitting its schema, nothing
 * undocumented beyond HTTP framing), and that its body has a documented media type and fits the schema
 * (JSON Schema 2020-12, with formats). Paths and methods the document does not have may only answer the
 * gateway's generic problems (401 before routing, 404, 405 with `Allow`, and the framework's body errors).
 * The reviewer console's files are not checked (see `check`).
 */

export type Answer = {
  api: ApiName;
  method: string;
  /** The request target: path and query. */
  url: string;
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Buffer;
};

/** Headers of HTTP itself, which the document does not describe. */
const FRAMING_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'cache-control',
  'x-powered-by',
]);

/** What an unknown path or method may answer, with the headers it must carry. */
const GENERIC_ANSWERS: Record<number, string[]> = {
  400: [],
  401: ['www-authenticate'],
  404: [],
  405: ['allow'],
  413: [],
  415: [],
  500: [],
};

type HeaderSpec = { required?: boolean; schema: object };
type ResponseSpec = { headers?: Record<string, HeaderSpec>; content?: Record<string, unknown> };
type Operation = { responses: Record<string, ResponseSpec | { $ref: string }> };

const BASE = 'https://contract.test/openapi.json';

/** The path as the router sees it; a hostile, undecodable one is matched as sent (it can only be a 404). */
function decodedPath(url: string): string {
  const raw = url.split('?')[0] || '/';
  let path = raw;
  try {
    path = decodeURI(raw);
  } catch {}
  return path.replace(/(.)\/+$/, '$1');
}
const escapePointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

export class ContractValidator {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: { api: ApiName; template: string; pattern: RegExp }[] = [];

  constructor(readonly document: OpenApiDocument = buildOpenApiDocument()) {
    addFormats.default(this.ajv);
    this.ajv.addSchema({ ...document, $id: BASE });
    for (const [template, item] of Object.entries(document.paths ?? {})) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const server of (item as { servers?: { url: string }[] }).servers ?? []) {
        const api = (Object.keys(apis) as ApiName[]).find((name) => apis[name].url === server.url);
        if (api) this.routes.push({ api, template, pattern });
      }
    }
  }

  /** Every way `answer` departs from the document; empty when it conforms. */
  check(answer: Answer): string[] {
    const path = decodedPath(answer.url);
    // The reviewer function's `/console/…` answers are a web page (HTML, script, style, a redirect to the
    // trailing slash), not API: no client generated from the document calls them, so the document leaves
    // them out and they are skipped here. test/integration/reviewerConsoleHttp.test.ts checks their
    // statuses and headers (CSP, caching) itself.
    if (answer.api === 'reviewer' && isConsolePath(path)) return [];
    const method = (answer.method === 'HEAD' ? 'GET' : answer.method).toLowerCase();
    const route = this.routes.find((r) => r.api === answer.api && r.pattern.test(path));
    const item = route ? (this.document.paths?.[route.template] as Record<string, Operation>) : undefined;
    const operation = item?.[method];
    const where = `${answer.method} ${path} → ${answer.status}`;
    if (!route || !operation) return this.checkGeneric(answer, where);

    const pointer = `#/paths/${escapePointer(route.template)}/${method}/responses`;
    const key = [String(answer.status), `${String(answer.status)[0]}XX`, 'default'].find(
      (k) => k in operation.responses,
    );
    if (!key)
      return [
        `${where}: status ${answer.status} is not documented for ${method.toUpperCase()} ${route.template}`,
      ];
    const response = operation.responses[key] as ResponseSpec;
    return [
      ...this.checkHeaders(answer, where, response.headers ?? {}, `${pointer}/${key}/headers`, []),
      ...this.checkBody(answer, where, response.content, `${pointer}/${key}/content`),
    ];
  }

  private checkGeneric(answer: Answer, where: string): string[] {
    const required = GENERIC_ANSWERS[answer.status];
    if (!required)
      return [`${where}: the document has no such operation, and ${answer.status} is no generic answer`];
    const problems = [
      ...this.checkHeaders(answer, where, {}, '', required),
      ...this.checkBody(
        answer,
        where,
        { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        '#/components/schemas/Problem',
        true,
      ),
    ];
    return problems;
  }

  private checkHeaders(
    answer: Answer,
    where: string,
    documented: Record<string, HeaderSpec>,
    pointer: string,
    alsoRequired: string[],
  ): string[] {
    const problems: string[] = [];
    const byName = new Map(
      Object.entries(documented).map(([name, spec]) => [name.toLowerCase(), { name, spec }]),
    );
    for (const required of alsoRequired) {
      if (answer.headers[required] === undefined) problems.push(`${where}: header ${required} is missing`);
    }
    for (const [name, { name: original, spec }] of byName) {
      const value = answer.headers[name];
      if (value === undefined) {
        if (spec.required) problems.push(`${where}: required header ${original} is missing`);
        continue;
      }
      const validate = this.validator(`${pointer}/${escapePointer(original)}/schema`);
      if (!validate(String(value)))
        problems.push(`${where}: header ${original}: ${this.ajv.errorsText(validate.errors)}`);
    }
    for (const name of Object.keys(answer.headers)) {
      const lower = name.toLowerCase();
      if (!FRAMING_HEADERS.has(lower) && !byName.has(lower) && !alsoRequired.includes(lower)) {
        problems.push(`${where}: header ${name} is not documented`);
      }
    }
    return problems;
  }

  private checkBody(
    answer: Answer,
    where: string,
    content: Record<string, unknown> | undefined,
    pointer: string,
    pointerIsSchema = false,
  ): string[] {
    if (answer.method === 'HEAD') return [];
    if (!content) return answer.body.length === 0 ? [] : [`${where}: a body where the document has none`];
    const type = String(answer.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!(type in content)) return [`${where}: content type "${type}" is not documented`];
    let body: unknown;
    try {
      body = JSON.parse(answer.body.toString('utf8'));
    } catch {
      return [`${where}: the body is not JSON`];
    }
    const validate = this.validator(pointerIsSchema ? pointer : `${pointer}/${escapePointer(type)}/schema`);
    if (validate(body)) {
      const status = (body as { status?: unknown }).status;
      if (type === 'application/problem+json' && status !== answer.status) {
        return [`${where}: the problem's status ${String(status)} is not the answer's`];
      }
      return [];
    }
    return [`${where}: body ${describe(validate)}`];
  }

  private validator(pointer: string): ValidateFunction {
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${BASE}${pointer}` });
      this.compiled.set(pointer, validate);
    }
    return validate;
  }
}

/** Ajv's errors, each with where it is and what it names (the extra property, the allowed values). */
function describe(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .map((e) => {
      const detail = Object.values(e.params)
        .filter((v) => typeof v !== 'object')
        .join(', ');
      return `${e.instancePath || '(root)'} ${e.message ?? e.keyword}${detail ? ` (${detail})` : ''}`;
    })
    .join('; ');
}
