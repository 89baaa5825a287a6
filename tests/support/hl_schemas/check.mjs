// Check Hyperliquid /info answers and websocket pushes against @nktkas/hyperliquid's valibot schemas.
//
// stdin: a JSON array of {"type": "<info request type>", "answer": <the JSON answered>}; a type
// written "ws:<subscription type>" checks a websocket message's `data` against `<Type>Event`.
// stdout: a JSON array, one entry per input, in order:
//   {"type", "ok": bool, "issues": ["path: message", ...], "unknown": ["path", ...]}
// `issues` are what the schema refuses; `unknown` are object keys the schema does not define (valibot's
// v.object drops them silently, so they are found by comparing the input with the parsed output).
// A type the package has no `<Type>Response` schema for is reported as an issue.
import * as info from "@nktkas/hyperliquid/api/info";
import * as subscription from "@nktkas/hyperliquid/api/subscription";
import * as v from "valibot";

function schemaFor(type) {
  const capital = (name) => name.charAt(0).toUpperCase() + name.slice(1);
  if (type.startsWith("ws:")) return subscription[capital(type.slice(3)) + "Event"];
  return info[capital(type) + "Response"];
}

function unknownKeys(input, output, path, out) {
  if (Array.isArray(input) && Array.isArray(output)) {
    input.forEach((item, i) => unknownKeys(item, output[i], `${path}[${i}]`, out));
  } else if (input && typeof input === "object" && output && typeof output === "object") {
    for (const key of Object.keys(input)) {
      if (!(key in output)) out.push(`${path}.${key}`);
      else unknownKeys(input[key], output[key], `${path}.${key}`, out);
    }
  }
  return out;
}

function check({ type, answer }) {
  const schema = schemaFor(type);
  if (!schema) return { type, ok: false, issues: [`no ${type} schema in @nktkas/hyperliquid`], unknown: [] };
  const result = v.safeParse(schema, answer);
  if (!result.success) {
    const issues = result.issues.map((i) => `${v.getDotPath(i) ?? "(root)"}: ${i.message}`);
    return { type, ok: false, issues, unknown: [] };
  }
  const unknown = unknownKeys(answer, result.output, "", []);
  return { type, ok: unknown.length === 0, issues: [], unknown };
}

let text = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) text += chunk;
process.stdout.write(JSON.stringify(JSON.parse(text).map(check)));
