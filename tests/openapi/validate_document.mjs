// Validates beampipe's OpenAPI document: with @apidevtools/swagger-parser (the OpenAPI 3.0
// schema and its semantic rules), then beampipe's own rules, and every component schema must
// compile with ajv. Usage: node validate_document.mjs DOCUMENT.json
import { readFileSync } from "node:fs";
import SwaggerParser from "@apidevtools/swagger-parser";
import { operations, schemaCompiler } from "./contract.mjs";

const file = process.argv[2];
const doc = JSON.parse(readFileSync(file, "utf8"));
const failures = [];
let passed = 0;
const check = (what, ok, detail = "") => {
  if (ok) passed++;
  else failures.push(detail ? `${what}: ${detail}` : what);
};

try {
  await SwaggerParser.validate(structuredClone(doc));
  check("swagger-parser accepts the document", true);
} catch (e) {
  check("swagger-parser accepts the document", false, e.message);
}
check("OpenAPI 3.0.3", doc.openapi === "3.0.3", doc.openapi);
check("bearerAuth is an http bearer JWT scheme",
  doc.components?.securitySchemes?.bearerAuth?.type === "http" &&
  doc.components.securitySchemes.bearerAuth.scheme === "bearer");

const ids = new Map();
for (const { path, method, op } of operations(doc)) {
  const where = `${method.toUpperCase()} ${path}`;
  check(`${where} is documented`, !op["x-beampipe-undocumented"], "registered without a route_doc");
  check(`${where} has a unique operationId`, op.operationId && !ids.has(op.operationId),
    `${op.operationId} also on ${ids.get(op.operationId)}`);
  ids.set(op.operationId, where);
  check(`${where} has a summary and a tag`, op.summary && Array.isArray(op.tags) && op.tags.length === 1);
  const auth = op["x-beampipe-auth"];
  check(`${where} x-beampipe-auth`, ["open", "user", "superuser"].includes(auth), String(auth));
  const secured = Array.isArray(op.security) && op.security.some((s) => "bearerAuth" in s);
  check(`${where} security matches x-beampipe-auth`, secured === (auth !== "open"));
  const r = op.responses ?? {};
  if (auth !== "open") check(`${where} documents 401`, "401" in r);
  if (auth === "superuser") check(`${where} documents 403`, "403" in r);
  if (op["x-beampipe-rate-limited"]) {
    check(`${where} documents 429 with Retry-After`, r["429"]?.headers?.["Retry-After"] !== undefined);
  }
  // A success, or a redirect (GET / sends a browser on).
  check(`${where} has a success response`, Object.keys(r).some((s) => /^[23]\d\d$/.test(s)));
  const successSchema = Object.entries(r).find(([s]) => /^2\d\d$/.test(s))?.[1]
    ?.content?.["application/json"]?.schema;
  for (const [status, resp] of Object.entries(r)) {
    if (/^[45]\d\d$|^default$/.test(status)) {
      const schema = resp.content?.["application/json"]?.schema;
      // A 5xx may deliberately answer the success body (GET /ready: not ready).
      const same = /^5/.test(status) && JSON.stringify(schema) === JSON.stringify(successSchema);
      check(`${where} ${status} answers ErrorDetail`,
        schema?.$ref === "#/components/schemas/ErrorDetail" || same);
    }
  }
  const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const inPath = (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
  check(`${where} documents its path parameters`,
    JSON.stringify([...templated].sort()) === JSON.stringify([...inPath].sort()),
    `${templated} vs ${inPath}`);
}

// Every component schema compiles, leniently and in the strict form the response check uses.
for (const strict of [false, true]) {
  let compiler;
  try {
    compiler = schemaCompiler(doc, { strict });
  } catch (e) {
    check(`components compile (strict=${strict})`, false, e.message);
    continue;
  }
  for (const name of Object.keys(doc.components.schemas)) {
    try {
      compiler.compile({ $ref: `#/components/schemas/${name}` });
      check(`${name} compiles`, true);
    } catch (e) {
      check(`${name} compiles (strict=${strict})`, false, e.message);
    }
  }
}

for (const f of failures) console.log("FAIL", f);
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
