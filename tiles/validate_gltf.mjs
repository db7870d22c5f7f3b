// Validate glb files with Khronos' glTF-Validator; print one JSON object
// {file: {errors, warnings, infos, messages: [...]}} on stdout.
// Usage: node tiles/validate_gltf.mjs FILE.glb ...
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

const out = {};
for (const file of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(await readFile(file)), { uri: file, maxIssues: 50 });
  out[file] = {
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    infos: report.issues.numInfos,
    messages: report.issues.messages.map((m) => `${["error", "warning", "info", "hint"][m.severity]} ${m.code}: ${m.message} ${m.pointer ?? ""}`),
  };
}
process.stdout.write(JSON.stringify(out) + "\n");
