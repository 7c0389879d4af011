#!/usr/bin/env node
'use strict';
// Checks parameter values against a template's form pages the way the scaffolder API does
// before it runs anything (POST /v2/tasks and /v2/dry-run): each page of
// spec.parameters is a JSON Schema, checked with the backend's own `jsonschema` copy.
// Many value sets in one process, so property tests can check a whole batch.
//
// stdin:  {"template": "/abs/template.yaml", "values": [{...}, ...]}
// stdout: {"results": [{"ok": true} | {"ok": false, "errors": ["...", ...]}, ...]}

for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => console.error(...args);
}

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');
const yaml = require('yaml');

const BACKEND_DIST = path.join(
  path.dirname(require.resolve('@backstage/plugin-scaffolder-backend/package.json')),
  'dist',
);
const jsonschema = createRequire(path.join(BACKEND_DIST, 'index.cjs.js'))('jsonschema');

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const template = yaml.parse(fs.readFileSync(request.template, 'utf8'));
  const pages = [template.spec.parameters ?? []].flat();
  const results = request.values.map((values) => {
    const errors = pages.flatMap((page) => jsonschema.validate(values, page).errors.map(String));
    return errors.length ? { ok: false, errors } : { ok: true };
  });
  process.stdout.write(`${JSON.stringify({ results })}\n`, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`validate-parameters: ${err?.stack ?? err}\n`);
  process.exit(1);
});
