// Prints every test as one JSON line, {"file", "titlePath"}: with `mocha --dry-run`, the list of
// tests a document may name (test/cli/docs.test.ts checks FAULTS.md against it).
const Mocha = require('mocha');

class TitlesReporter extends Mocha.reporters.Base {
  constructor(runner, options) {
    super(runner, options);
    runner.on('test', (test) => process.stdout.write(`${JSON.stringify({ file: test.file, titlePath: test.titlePath() })}\n`));
  }
}

module.exports = TitlesReporter;
