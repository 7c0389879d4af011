#!/usr/bin/env node
'use strict';
// Renders template strings with the same nunjitsu renderer fetch:template builds
// (Backstage's default filters, regex execution allowed), so the Python engine can
// be compared with it expression by expression.
//
// stdin:  {"cases": [{"template": str, "context": {...}, "trimBlocks"?: bool,
//                     "lstripBlocks"?: bool, "value"?: bool}]}
//         "value": true renders with renderValue, as step inputs are rendered.
// stdout: {"results": [{"ok": true, "output": str | any} | {"ok": false, "error": str}]}
//         A renderValue result of undefined is reported as {"ok": true, "undefined": true}.

const { createRequire } = require('node:module');
const { ConfigReader } = require('@backstage/config');
const { ScmIntegrations } = require('@backstage/integration');

const backendRequire = createRequire(require.resolve('@backstage/plugin-scaffolder-backend'));
const { createTemplateRenderer } = backendRequire('nunjitsu');
const { collectActionTemplateCapabilities } = backendRequire(
  './scaffolder/actions/builtin/fetch/templateActionHandler.cjs.js',
);

const integrations = ScmIntegrations.fromConfig(new ConfigReader({}));
const capabilities = collectActionTemplateCapabilities({ integrations });
const renderers = new Map();

function rendererFor(trimBlocks, lstripBlocks) {
  const key = `${trimBlocks}/${lstripBlocks}`;
  if (!renderers.has(key)) {
    renderers.set(
      key,
      createTemplateRenderer({ ...capabilities, allowRegexExecution: true, trimBlocks, lstripBlocks }),
    );
  }
  return renderers.get(key);
}

function renderCase(testCase) {
  const renderer = rendererFor(Boolean(testCase.trimBlocks), Boolean(testCase.lstripBlocks));
  try {
    const context = renderer.prepareContext(testCase.context ?? {});
    if (testCase.value) {
      const value = renderer.renderValue(testCase.template, context);
      return value === undefined ? { ok: true, undefined: true } : { ok: true, output: value };
    }
    return { ok: true, output: renderer.render(testCase.template, context) };
  } catch (error) {
    return { ok: false, error: String(error && error.message ? error.message : error) };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => {
  input += chunk;
});
process.stdin.on('end', () => {
  const { cases } = JSON.parse(input);
  process.stdout.write(JSON.stringify({ results: cases.map(renderCase) }));
});
