// Shared by the contract checks: turns the OpenAPI 3.0 schemas of beampipe's document into
// JSON Schema for ajv and compiles validators for response bodies.
import Ajv from "ajv";
import addFormats from "ajv-formats";

const COMPONENT = "#/components/schemas/";

// OpenAPI 3.0 schema → JSON Schema (draft-07). `nullable: true` becomes a union with null.
// With strict, an object schema that lists its properties refuses any other property unless
// it says additionalProperties itself: a field the server sends must be documented.
export function toJsonSchema(schema, { strict = false, refBase = "#/definitions/" } = {}) {
  const conv = (s) => toJsonSchema(s, { strict, refBase });
  if (Array.isArray(schema)) return schema.map(conv);
  if (!schema || typeof schema !== "object") return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "nullable" || key === "discriminator" || key.startsWith("x-")) continue;
    if (key === "$ref") {
      out.$ref = refBase + value.slice(COMPONENT.length);
    } else if (key === "properties") {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, conv(v)]));
    } else if (["items", "additionalProperties", "not"].includes(key) && typeof value === "object") {
      out[key] = conv(value);
    } else if (["allOf", "anyOf", "oneOf"].includes(key)) {
      out[key] = value.map(conv);
    } else {
      out[key] = value;
    }
  }
  if (strict && out.type === "object" && out.properties && !("additionalProperties" in out)) {
    out.additionalProperties = false;
  }
  if (schema.nullable === true) {
    if (typeof out.type === "string") {
      out.type = [out.type, "null"];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    } else {
      return { anyOf: [out, { type: "null" }] };
    }
  }
  return out;
}

export function makeAjv() {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false });
  addFormats(ajv);
  ajv.addFormat("int32", {
    type: "number",
    validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
  ajv.addFormat("double", { type: "number", validate: () => true });
  ajv.addFormat("binary", { type: "string", validate: () => true });
  return ajv;
}

// Validators for schemas of the document: compile(schema) accepts a schema object as it
// appears in the document (with $refs to components).
export function schemaCompiler(doc, { strict = false } = {}) {
  const ajv = makeAjv();
  const definitions = {};
  for (const [name, s] of Object.entries(doc.components?.schemas ?? {})) {
    definitions[name] = toJsonSchema(s, { strict });
  }
  ajv.addSchema({ $id: "beampipe-components", definitions });
  return {
    ajv,
    compile(schema) {
      return ajv.compile(toJsonSchema(schema, { strict, refBase: "beampipe-components#/definitions/" }));
    },
  };
}

export function errorsText(ajv, errors) {
  return ajv.errorsText(errors, { separator: "; ", dataVar: "body" });
}

export const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

export function* operations(doc) {
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      if (item[method]) yield { path, method, op: item[method] };
    }
  }
}
