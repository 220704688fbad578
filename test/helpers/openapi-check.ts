/**
 * Checks real answers against the served API document (/openapi.json): the test helper's request
 * function runs every JSON answer of the API tests through here, so a documented shape that drifts
 * from what the server sends fails those tests.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';

type Doc = { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: object }> }> }>> };

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

export class OpenApiChecker {
  private doc: Promise<Doc> | undefined;
  constructor(private readonly baseUrl: string) {}

  private load(): Promise<Doc> {
    this.doc ??= fetch(`${this.baseUrl}/openapi.json`).then((r) => r.json() as Promise<Doc>);
    return this.doc;
  }

  /**
   * Throws if `body` (a JSON answer to `method path` with `status`) does not match the document.
   * Paths the document does not know (unknown routes, probing) are not checked here; the
   * route-coverage test checks that every registered route is documented.
   */
  async check(method: string, path: string, status: number, body: unknown): Promise<void> {
    const doc = await this.load();
    const op = doc.paths[path]?.[method.toLowerCase()];
    if (!op?.responses) return;
    const response = op.responses[String(status)] ?? op.responses.default;
    if (!response?.content) throw new Error(`${method} ${path}: answer ${status} is not documented in /openapi.json`);
    // A raw answer (GET /file sends the stored file, which may be JSON) has no JSON schema to check.
    const schema = response.content['application/json']?.schema;
    if (!schema) return;
    const key = `${method} ${path} ${status}`;
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile(schema);
      validators.set(key, validate);
    }
    if (!validate(body)) {
      throw new Error(
        `${key}: the answer does not match /openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
      );
    }
  }
}
