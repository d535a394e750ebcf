// Validates recorded responses against beampipe's OpenAPI document. Each record names the
// operation it matched ({method, template, path, status, content_type, headers, body}); its
// status must be documented (any 4xx explicitly; 5xx may fall to `default`), its body must
// validate against the documented schema in the strict form (no undocumented fields), and the
// documented headers must be present.
// Usage: node validate_responses.mjs DOCUMENT.json RECORDS.json
import { readFileSync } from "node:fs";
import { errorsText, schemaCompiler } from "./contract.mjs";

const doc = JSON.parse(readFileSync(process.argv[2], "utf8"));
const records = JSON.parse(readFileSync(process.argv[3], "utf8"));
const compiler = schemaCompiler(doc, { strict: true });
const cache = new Map();
const validator = (key, schema) => {
  if (!cache.has(key)) cache.set(key, compiler.compile(schema));
  return cache.get(key);
};
const failures = [];
let passed = 0;
const covered = new Set();

for (const rec of records) {
  const where = `${rec.method} ${rec.path} → ${rec.status}`;
  const op = doc.paths?.[rec.template]?.[rec.method.toLowerCase()];
  if (!op) {
    failures.push(`${where}: no documented operation ${rec.method} ${rec.template}`);
    continue;
  }
  covered.add(`${rec.method} ${rec.template} ${rec.status}`);
  let response = op.responses?.[String(rec.status)];
  if (!response) {
    if (rec.status >= 400 && rec.status < 500) {
      failures.push(`${where}: status not documented (documented: ${Object.keys(op.responses)})`);
      continue;
    }
    response = op.responses?.default;
    if (!response) {
      failures.push(`${where}: status not documented and no default`);
      continue;
    }
  }
  const headers = Object.fromEntries(
    Object.entries(rec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  for (const name of Object.keys(response.headers ?? {})) {
    const v = headers[name.toLowerCase()];
    if (v === undefined || !/^\d+$/.test(v)) {
      failures.push(`${where}: documented header ${name} missing or not an integer (${v})`);
    } else {
      passed++;
    }
  }
  const content = response.content ?? {};
  const media = Object.keys(content);
  if (media.length === 0) {
    if (rec.raw_length > 0) failures.push(`${where}: documented without a body, got ${rec.raw_length} bytes`);
    else passed++;
    continue;
  }
  const type = (rec.content_type ?? "").split(";")[0].trim().toLowerCase();
  if (!media.includes(type) && !media.includes("*/*")) {
    failures.push(`${where}: Content-Type ${type} not among ${media}`);
    continue;
  }
  if (type !== "application/json" || !content["application/json"]) {
    passed++;  // text, HTML, script, or bytes of any media type (*/*)
    continue;
  }
  const schema = content["application/json"].schema;
  const key = `${rec.method} ${rec.template} ${rec.status}`;
  const validate = validator(key, schema);
  if (validate(rec.body)) {
    passed++;
  } else {
    failures.push(`${where}: ${errorsText(compiler.ajv, validate.errors)}`);
  }
}

for (const f of failures) console.log("FAIL", f);
console.log(`covered ${covered.size} (operation, status) pairs`);
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
