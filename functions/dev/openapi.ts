/**
 * `npm run openapi`: writes the contract's published artefacts from the code.
 *
 *   docs/openapi.json              the OpenAPI 3.1 document (as `GET /openapi.json` serves it, indented)
 *   functions/client/schema.d.ts   TypeScript types of every path, for the typed client (openapi-typescript)
 *
 * Both are committed so a contract change shows in review; test/unit/openApiDocument.test.ts fails while
 * either is out of date with the code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { type OpenAPI3 } from 'openapi-typescript';
import { buildOpenApiDocument } from '../src/http/contract/openApiDocument.js';
import { PROJECT_ROOT } from './emulators.js';

export const ARTEFACTS = {
  document: path.join(PROJECT_ROOT, 'docs/openapi.json'),
  clientTypes: path.join(PROJECT_ROOT, 'functions/client/schema.d.ts'),
} as const;

/** The artefacts' contents as the code makes them now. */
export async function renderContract(): Promise<Record<keyof typeof ARTEFACTS, string>> {
  const document = buildOpenApiDocument();
  return {
    document: `${JSON.stringify(document, null, 2)}\n`,
    clientTypes: await openapiTS(document as unknown as OpenAPI3, { exportType: false }),
  };
}

/** Which artefacts differ from what the code makes now. */
export async function staleArtefacts(): Promise<string[]> {
  const rendered = await renderContract();
  return (Object.keys(ARTEFACTS) as (keyof typeof ARTEFACTS)[]).filter((name) => {
    try {
      return readFileSync(ARTEFACTS[name], 'utf8') !== rendered[name];
    } catch {
      return true;
    }
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rendered = await renderContract();
  for (const name of Object.keys(ARTEFACTS) as (keyof typeof ARTEFACTS)[]) {
    writeFileSync(ARTEFACTS[name], rendered[name]);
    console.log(`wrote ${path.relative(PROJECT_ROOT, ARTEFACTS[name])}`);
  }
}
