#!/usr/bin/env node
'use strict';
// Validates catalog YAML files with Backstage's own code, the way the catalog
// does when it ingests them:
//   1. the entity policies a default catalog backend applies (CatalogBuilder's
//      buildEntityPolicy: SchemaValid, DefaultNamespace, NoForeignRootFields,
//      FieldFormat, in that order), then
//   2. the kind validators of the processors: the catalog-model built-in kinds
//      (BuiltinKindsEntityProcessor) and, for kind: Template, the scaffolder's
//      templateEntityV1beta3Validator (ScaffolderEntitiesProcessor). An entity
//      that no validator accepts is rejected, as the catalog does.
//
// usage:  node validate.cjs FILE...
// stdout: {"results": [{"file", "index", "kind", "ok", "error"?}]}
// exit:   0 when every file was read and parsed (even if documents are invalid),
//         2 on usage errors: no arguments, an unreadable file, a YAML syntax error.

// stdout carries only the result document: route library console output to stderr.
for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => console.error(...args);
}

const fs = require('node:fs');
const yaml = require('yaml');
const {
  EntityPolicies,
  SchemaValidEntityPolicy,
  DefaultNamespaceEntityPolicy,
  NoForeignRootFieldsEntityPolicy,
  FieldFormatEntityPolicy,
  apiEntityV1alpha1Validator,
  componentEntityV1alpha1Validator,
  domainEntityV1alpha1Validator,
  groupEntityV1alpha1Validator,
  locationEntityV1alpha1Validator,
  resourceEntityV1alpha1Validator,
  systemEntityV1alpha1Validator,
  userEntityV1alpha1Validator,
} = require('@backstage/catalog-model');
const { templateEntityV1beta3Validator } = require('@backstage/plugin-scaffolder-common');

const policy = EntityPolicies.allOf([
  new SchemaValidEntityPolicy(),
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(),
]);

// Each validator's check() returns false when kind/apiVersion are not its own
// and throws with the schema errors when they are but the entity is invalid.
const kindValidators = [
  apiEntityV1alpha1Validator,
  componentEntityV1alpha1Validator,
  resourceEntityV1alpha1Validator,
  groupEntityV1alpha1Validator,
  locationEntityV1alpha1Validator,
  userEntityV1alpha1Validator,
  systemEntityV1alpha1Validator,
  domainEntityV1alpha1Validator,
  templateEntityV1beta3Validator,
];

async function validateEntity(entity) {
  const enforced = await policy.enforce(entity);
  for (const validator of kindValidators) {
    if (await validator.check(enforced)) return;
  }
  throw new Error(
    `No processor recognized the entity as valid, possibly caused by a foreign kind or apiVersion ` +
      `(kind ${JSON.stringify(entity.kind)}, apiVersion ${JSON.stringify(entity.apiVersion)})`,
  );
}

function usage(message) {
  process.stderr.write(`validate: ${message}\n`);
  process.exit(2);
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) usage('usage: node validate.cjs FILE...');

  // Read and parse everything first, so a usage error prints no partial results.
  const parsed = [];
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      usage(`cannot read ${file}: ${err.message}`);
    }
    // The catalog parses with `yaml`'s parseAllDocuments too (parseEntityYaml).
    const docs = yaml.parseAllDocuments(text);
    for (const doc of docs) {
      if (doc.errors.length) usage(`YAML error in ${file}: ${doc.errors[0].message}`);
    }
    parsed.push({ file, docs: docs.map((d) => d.toJSON()) });
  }

  const results = [];
  for (const { file, docs } of parsed) {
    for (const [index, data] of docs.entries()) {
      // The catalog silently skips empty documents (e.g. a trailing "---").
      if (data === null || data === undefined) continue;
      const kind = data && typeof data === 'object' && !Array.isArray(data) ? data.kind ?? null : null;
      const result = { file, index, kind, ok: true };
      try {
        if (typeof data !== 'object' || Array.isArray(data)) {
          throw new Error(`Expected object at root, got ${Array.isArray(data) ? 'array' : typeof data}`);
        }
        // Policies may rewrite the entity (default namespace): work on a copy.
        await validateEntity(structuredClone(data));
      } catch (err) {
        result.ok = false;
        result.error = String(err?.message ?? err);
      }
      results.push(result);
    }
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`validate: ${err?.stack ?? err}\n`);
  process.exit(1);
});
