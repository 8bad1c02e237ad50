import type { z } from "zod";
import { formatPath, suggest, type Diagnostic, type PathSegment } from "./diagnostics.js";
import type { YamlSource } from "./yaml-source.js";

/** Turns zod issues into plain-sentence diagnostics, with "did you mean" for misspelled field names. */
export function schemaDiagnostics(issues: readonly z.core.$ZodIssue[], src: YamlSource, knownKeys: ReadonlySet<string>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is PathSegment => typeof p !== "symbol");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const hint = suggest(key, knownKeys);
        out.push(
          diag(
            "schema.unknown-field",
            [...path, key],
            `unknown field "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}`,
            src.locate(path, key),
          ),
        );
      }
      continue;
    }
    if (issue.code === "invalid_union" && "discriminator" in issue) {
      const options = (issue as { options?: unknown[] }).options ?? [];
      const got = valueAt(src.data, path);
      out.push(
        diag(
          "schema.invalid-kind",
          path,
          `${got === undefined ? "missing" : `"${String(got)}" is not a valid`} ${String(path.at(-1))}: use one of ${options.map((o) => `"${String(o)}"`).join(", ")}`,
          src.locate(path),
        ),
      );
      continue;
    }
    if ((issue.code === "invalid_type" || issue.code === "invalid_union") && valueAt(src.data, path) === undefined) {
      out.push(diag("schema.missing-field", path, `missing required field "${String(path.at(-1))}"`, src.locate(path.slice(0, -1))));
      continue;
    }
    if (issue.code === "invalid_value") {
      const got = valueAt(src.data, path);
      const allowed = issue.values.map((v) => JSON.stringify(v)).join(", ");
      out.push(
        diag(
          "schema.invalid-value",
          path,
          `${JSON.stringify(got)} is not allowed here: use ${issue.values.length > 1 ? "one of " : ""}${allowed}`,
          src.locate(path),
        ),
      );
      continue;
    }
    if (issue.code === "invalid_union") {
      const alternatives = issue.errors.map((e) => e[0]?.message.replace(/^Invalid input: /, "")).filter((m): m is string => !!m);
      out.push(diag("schema.invalid-union", path, alternatives.length ? alternatives.join(", or ") : issue.message, src.locate(path)));
      continue;
    }
    out.push(diag(`schema.${issue.code.replace(/_/g, "-")}`, path, issue.message.replace(/^Invalid input: /, ""), src.locate(path)));
  }
  return out;
}

function diag(code: string, path: readonly PathSegment[], message: string, source: string | undefined): Diagnostic {
  return { severity: "error", code, path: formatPath(path), message, ...(source ? { source } : {}) };
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let cur = data;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Every property name anywhere in a JSON Schema, as the vocabulary for "did you mean". */
export function schemaKeys(jsonSchema: unknown): Set<string> {
  const keys = new Set<string>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (n === null || typeof n !== "object") return;
    const o = n as Record<string, unknown>;
    if (o.properties && typeof o.properties === "object") for (const k of Object.keys(o.properties)) keys.add(k);
    Object.values(o).forEach(walk);
  };
  walk(jsonSchema);
  return keys;
}
