// Validates AsyncAPI documents with @asyncapi/parser, the AsyncAPI Initiative's maintained parser (the one its
// CLI runs): the specification's JSON Schema plus its semantic rules, relative $refs resolved. Any error, or any
// warning, fails: node validate.mjs FILE...
import { resolve } from "node:path";
import { Parser, fromFile } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await fromFile(parser, resolve(file)).parse();
  const problems = diagnostics.filter((d) => d.severity <= 1); // 0 error, 1 warning
  for (const d of problems) {
    console.error(`${file}: ${d.severity === 0 ? "error" : "warning"} ${d.code} at ${d.path.join(".")}: ${d.message}`);
  }
  if (document === undefined || problems.length > 0) {
    failed = true;
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()} (${document.channels().length} channel, ${document.operations().length} operation)`);
  }
}
process.exit(failed ? 1 : 0);
