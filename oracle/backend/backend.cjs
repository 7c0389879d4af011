#!/usr/bin/env node
'use strict';
// A real Backstage backend: createBackend() from @backstage/backend-defaults with the
// catalog (plus the Template kind) and scaffolder (plus publish:github) plugins, on the
// local PostgreSQL server. The tests start it, call its HTTP API and stop it with SIGTERM.
//
// stdin: {"port": 7007, "databasePrefix": "backstage_test_1234_", "token": "...",
//         "readableHost": "127.0.0.1:8000", "catalog": {"rules": [...], "locations": [...]}}
//   port:           where the backend listens (127.0.0.1)
//   databasePrefix: each plugin gets the PostgreSQL database <prefix><pluginId>
//   token:          static external-access token the callers send as a Bearer token
//   readableHost:   the only host the URL reader (and thus `url` locations) may read from
//   catalog:        the app-config `catalog` block (rules, locations)
// The backend is ready when GET /.backstage/health/v1/readiness answers 200.

const fs = require('node:fs');
const { createBackend } = require('@backstage/backend-defaults');
const { coreServices, createServiceFactory } = require('@backstage/backend-plugin-api');
const { ConfigReader } = require('@backstage/config');

const settings = JSON.parse(fs.readFileSync(0, 'utf8'));

const config = {
  backend: {
    baseUrl: `http://127.0.0.1:${settings.port}`,
    listen: { host: '127.0.0.1', port: settings.port },
    database: {
      client: 'pg',
      connection: { host: '127.0.0.1', port: 5432, user: 'postgres' },
      prefix: settings.databasePrefix,
    },
    auth: {
      externalAccess: [{ type: 'static', options: { token: settings.token, subject: 'tests' } }],
    },
    reading: { allow: [{ host: settings.readableHost }] },
  },
  catalog: {
    ...settings.catalog,
    // New entities are processed at once; this only paces re-processing (the least allowed).
    processingInterval: { seconds: 1 },
  },
};

const backend = createBackend();
backend.add(
  createServiceFactory({
    service: coreServices.rootConfig,
    deps: {},
    factory: () => new ConfigReader(config, 'tests'),
  }),
);
backend.add(require('@backstage/plugin-catalog-backend'));
backend.add(require('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'));
backend.add(require('@backstage/plugin-scaffolder-backend'));
backend.add(require('@backstage/plugin-scaffolder-backend-module-github'));

backend.start().catch((error) => {
  console.error(error);
  process.exit(1);
});
