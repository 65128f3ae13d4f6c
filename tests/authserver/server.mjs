// Local OAuth 2.0 authorization server for keycard-serve integration tests.
// oidc-provider does discovery, JWKS, client authentication and RFC 9068 JWT access tokens;
// this file adds the RFC 8693 token-exchange grant, the Entra on-behalf-of grant, the token
// shapes of other authorization servers (shapes.mjs), workload-identity client assertions
// (federation.mjs) and a small /__test/ control surface.
// Usage: node server.mjs <config.json>; prints one line "LISTENING <issuer>" when ready.
// KEYCARD_TEST_AUTHSERVER_EXTRA (JSON, or @path of a JSON file) is merged into the config.
import { generateKeyPair } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { format, promisify } from 'node:util';

import {
  SignJWT, calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader,
  importJWK, jwtVerify,
} from 'jose';

import { federationBridge } from './federation.mjs';
import {
  NO_AUDIENCE, acceptedSubjectForms, applyShape, exchangeFlavour, shapeFor,
} from './shapes.mjs';

// oidc-provider warns through console.* and prints its Node-version warning at import time,
// so console is redirected before the dynamic import: stdout carries only the LISTENING line.
const EXPECTED_WARNINGS = [/Unsupported runtime/, /in-memory adapter/, /already parsed request body/];
for (const level of ['log', 'info', 'warn', 'error']) {
  console[level] = (...args) => {
    const line = format(...args);
    if (!EXPECTED_WARNINGS.some((re) => re.test(line))) process.stderr.write(`${line}\n`);
  };
}
const { default: Provider, errors } = await import('oidc-provider');

const generateKeyPairAsync = promisify(generateKeyPair);
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const ISSUED_TOKEN_TYPES = { access_token: ACCESS_TOKEN_TYPE, jwt: 'urn:ietf:params:oauth:token-type:jwt' };
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const EXTRA_ENV = 'KEYCARD_TEST_AUTHSERVER_EXTRA';
const INBOUND_SCOPES = 'mcp:tools read write calendar:write admin';
const DOWNSTREAM_SCOPES = 'mail.read mail.send read write calendar.read calendar.write';

// The launcher's config plus the extra of EXTRA_ENV: lists are appended, maps merged.
function loadConfig(path) {
  const base = JSON.parse(readFileSync(path, 'utf8'));
  const raw = process.env[EXTRA_ENV];
  if (!raw) return base;
  const extra = JSON.parse(raw.startsWith('@') ? readFileSync(raw.slice(1), 'utf8') : raw);
  return {
    ...base,
    ...extra,
    clients: [...base.clients, ...(extra.clients ?? [])],
    shapes: [...(base.shapes ?? []), ...(extra.shapes ?? [])],
    audiences: { ...base.audiences, ...extra.audiences },
    exchange: { ...base.exchange, ...extra.exchange },
  };
}

const config = loadConfig(process.argv[2]);
const shapes = config.shapes ?? [];
const namedAudiences = config.audiences ?? {}; // non-URL targets: {name: "inbound"|"downstream"}
const clientEntries = new Map(config.clients.map((entry) => [entry.client_id, entry]));
const federatedClients = config.clients.filter((entry) => entry.federated);
const onBehalfOfEnabled = config.clients.some((entry) => entry.grant_types?.includes(JWT_BEARER));
const exchangeTTL = config.exchange_ttl ?? 300;
const userTokenTTL = config.user_token_ttl ?? 3600;
const userByClient = new Map(config.clients.filter((c) => c.user).map((c) => [c.client_id, c.user]));

const stats = { token_exchange: 0, jwks: 0, metadata: 0 };
if (onBehalfOfEnabled) stats.on_behalf_of = 0;
const signingKeys = []; // private JWKs, newest first; all stay published
const exchanged = new WeakMap(); // token-exchange token -> {sub, act}, applied by the JWT customizer
let issuer;
let provider;
let handle;
let publishedKeys;
let subjectForms; // issuers and typ values of the tokens this server issues (shapes included)
let bridge; // the workload-identity bridge, when a client is federated

async function newSigningKey() {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' };
  jwk.kid = await calculateJwkThumbprint(jwk);
  signingKeys.unshift(jwk);
  return jwk.kid;
}

// "inbound" = an MCP server under test on loopback; "downstream" = an https API it calls.
// Named audiences (client ids, api:// URIs, GUIDs) have the kind the config gives them.
function resourceKind(resource) {
  if (typeof resource !== 'string') return undefined;
  if (Object.hasOwn(namedAudiences, resource)) return namedAudiences[resource];
  const url = URL.parse(resource);
  if (url?.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(url.hostname)) return 'inbound';
  if (url?.protocol === 'https:' && !url.hostname.startsWith('denied.')) return 'downstream';
  return undefined;
}

function resourceServerInfo(resource) {
  const kind = resourceKind(resource);
  if (!kind) throw new errors.InvalidTarget();
  return {
    audience: resource,
    scope: kind === 'inbound' ? INBOUND_SCOPES : DOWNSTREAM_SCOPES,
    accessTokenFormat: 'jwt',
    accessTokenTTL: kind === 'inbound' ? userTokenTTL : exchangeTTL,
    jwt: { sign: { alg: 'RS256', kid: signingKeys[0].kid } },
  };
}

function clientMetadata(entry) {
  const { client_id: clientId, client_secret: secret, jwks, grant_types: grants } = entry;
  const common = { client_id: clientId, grant_types: grants, redirect_uris: [], response_types: [] };
  if (entry.federated) {
    return { ...common, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [bridge.bridgeJwk] } };
  }
  if (jwks) return { ...common, token_endpoint_auth_method: 'private_key_jwt', jwks };
  const method = entry.token_endpoint_auth_method ?? 'client_secret_basic';
  return { ...common, token_endpoint_auth_method: method, client_secret: secret };
}

// FAPI 2.0 / the RFC 7523 successor: a client with assertion_audience "issuer" must send
// aud = the issuer identifier, one string; the token endpoint URL is refused.
async function assertClientAssertion(ctx, claims, header, client) {
  if (clientEntries.get(client.clientId)?.assertion_audience === 'issuer' && claims.aud !== ctx.oidc.issuer) {
    throw new errors.InvalidClientAuth('client assertion aud must be the issuer identifier');
  }
}

// A token this server issued (in any configured shape), or `Refusal` with the reason.
async function verifySubject(token, Refusal, name) {
  let payload;
  let protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(token, publishedKeys, {
      algorithms: ['RS256'], requiredClaims: ['sub', 'exp', 'aud'],
    }));
  } catch (err) {
    throw new Refusal(`invalid ${name} (${err.code ?? err.message})`);
  }
  if (!subjectForms.issuers.has(payload.iss)) throw new Refusal(`invalid ${name} (unexpected iss)`);
  if (!subjectForms.types.has(protectedHeader.typ ?? null)) throw new Refusal(`invalid ${name} (unexpected typ)`);
  const kinds = [payload.aud].flat().map(resourceKind);
  if (!kinds.includes('inbound') || kinds.includes('downstream')) {
    throw new Refusal(`${name} audience is not an MCP server`);
  }
  return payload;
}

function checkedScopes(requested) {
  const allowed = new Set(DOWNSTREAM_SCOPES.split(' '));
  const denied = requested.filter((scope) => !allowed.has(scope));
  if (denied.length) throw new errors.InvalidScope('requested scope is not allowed', denied.join(' '));
  return requested;
}

// RFC 8693 section 2.1 targets, as the exchanging client's flavour wants them (`mode`).
function exchangeTargets(params, mode) {
  const resources = [params.resource ?? []].flat();
  const audiences = [params.audience ?? []].flat();
  if (mode === 'audience' && resources.length) {
    throw new errors.InvalidRequest("parameter 'resource' is not supported, target the exchange with 'audience'");
  }
  const byMode = { resource: resources, audience: audiences, any: [...new Set([...resources, ...audiences])] };
  const targets = byMode[mode];
  const name = mode === 'any' ? 'resource or audience' : mode;
  if (targets.length !== 1 && !(mode === 'any' && targets.length)) {
    throw new errors.InvalidTarget(`exactly one ${name} is required`);
  }
  if (!targets.every((target) => resourceKind(target) === 'downstream')) {
    throw new errors.InvalidTarget(`${name} is not a downstream API`);
  }
  return targets;
}

// A delegated token for `targets` (aud), acting for `sub`; returns the token and its value.
async function delegatedToken(client, sub, targets, scopes) {
  const token = new provider.ClientCredentials({ client, scope: scopes.join(' ') || undefined });
  token.resourceServer = new provider.ResourceServer(targets[0], resourceServerInfo(targets[0]));
  const aud = targets.length > 1 ? { aud: targets } : {};
  exchanged.set(token, { sub, act: { sub: client.clientId }, ...aud });
  return { token, value: await token.save() };
}

async function tokenExchange(ctx) {
  const { params, client } = ctx.oidc;
  const flavour = exchangeFlavour(config.exchange?.[client.clientId]);
  if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
  const subjectTypes = flavour.subject_token_types ?? [ACCESS_TOKEN_TYPE];
  if (!subjectTypes.includes(params.subject_token_type)) {
    throw new errors.InvalidRequest(`subject_token_type must be ${subjectTypes.join(' or ')}`);
  }
  if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('only access tokens can be requested');
  }
  const subject = await verifySubject(params.subject_token, errors.InvalidRequest, 'subject_token');
  const targets = exchangeTargets(params, flavour.target);
  const scopes = checkedScopes(params.scope ? params.scope.split(' ') : []);
  const { token, value } = await delegatedToken(client, subject.sub, targets, scopes);
  const issuedType = ISSUED_TOKEN_TYPES[flavour.issued_token_type];
  ctx.body = {
    access_token: value,
    ...(issuedType ? { issued_token_type: issuedType } : {}),
    token_type: 'Bearer',
    expires_in: token.expiration,
    ...(token.scope ? { scope: token.scope } : {}),
    ...flavour.extra_response,
  };
}

// Entra's scope parameter names the API and its scopes: "<app id URI>/<scope> ...", one API.
function onBehalfOfTarget(scope) {
  const parts = (scope ?? '').split(' ').filter((item) => item && !OIDC_SCOPES.has(item));
  if (!parts.length) throw new errors.InvalidRequest('missing required parameter scope');
  const split = parts.map((item) => [item.slice(0, item.lastIndexOf('/')), item.slice(item.lastIndexOf('/') + 1)]);
  const targets = new Set(split.map(([target]) => target));
  if (targets.size !== 1 || targets.has('')) {
    throw new errors.InvalidScope('scopes must name one API as <app id URI>/<scope>', scope);
  }
  const [target] = targets;
  if (resourceKind(target) !== 'downstream') throw new errors.InvalidTarget('the API in scope is unknown');
  const names = split.map(([, name]) => name);
  if (names.includes('.default')) {
    if (names.length > 1) throw new errors.InvalidScope('.default cannot be combined with other scopes', scope);
    return { target, scopes: DOWNSTREAM_SCOPES.split(' ') };
  }
  return { target, scopes: checkedScopes(names) };
}

// Microsoft Entra on-behalf-of: jwt-bearer grant, assertion = the caller's token.
async function onBehalfOf(ctx) {
  const { params, client } = ctx.oidc;
  if (params.requested_token_use !== 'on_behalf_of') {
    throw new errors.InvalidRequest('requested_token_use must be on_behalf_of');
  }
  if (!params.assertion) throw new errors.InvalidRequest('missing required parameter assertion');
  const subject = await verifySubject(params.assertion, errors.InvalidGrant, 'assertion');
  const { target, scopes } = onBehalfOfTarget(params.scope);
  const { token, value } = await delegatedToken(client, subject.sub, [target], scopes);
  ctx.body = {
    token_type: 'Bearer',
    scope: scopes.join(' '),
    expires_in: token.expiration,
    ext_expires_in: token.expiration,
    access_token: value,
  };
}

// oidc-provider cannot sign a JWT access token without aud: re-sign the NO_AUDIENCE ones.
async function dropNoAudience(ctx, nextMiddleware) {
  await nextMiddleware();
  const value = ctx.body?.access_token;
  if (ctx.path !== '/token' || typeof value !== 'string' || decodeJwt(value).aud !== NO_AUDIENCE) return;
  const header = decodeProtectedHeader(value);
  const payload = decodeJwt(value);
  delete payload.aud;
  const jwk = signingKeys.find((key) => key.kid === header.kid);
  const signed = await new SignJWT(payload).setProtectedHeader(header).sign(await importJWK(jwk, header.alg));
  ctx.body = { ...ctx.body, access_token: signed };
}

// A rotation builds a fresh Provider with the larger key set (the public API has no way to add
// keys at runtime). The in-memory adapter's storage is module-global, so jti replay state survives.
function buildProvider() {
  const next = new Provider(issuer, {
    clients: config.clients.map(clientMetadata),
    jwks: { keys: signingKeys },
    clientAuthMethods: [...new Set(['client_secret_basic', 'private_key_jwt', ...config.clients
      .map((entry) => entry.token_endpoint_auth_method).filter(Boolean)])],
    assertJwtClientAuthClaimsAndHeader: assertClientAssertion,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (ctx, resource) => resourceServerInfo(resource),
      },
    },
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
    formats: {
      customizers: {
        // token.extra is overwritten by extraTokenClaims at save time, so claims are set here.
        jwt(ctx, token, jwt) {
          const exchange = exchanged.get(token);
          if (exchange) Object.assign(jwt.payload, exchange);
          else if (userByClient.has(token.clientId)) jwt.payload.sub = userByClient.get(token.clientId);
          const target = token.resourceServer?.identifier();
          const selectors = { clientId: token.clientId, target, kind: resourceKind(target) };
          const shape = shapeFor(shapes, selectors);
          if (shape) applyShape(shape, jwt, selectors);
        },
      },
    },
  });
  next.registerGrantType(
    TOKEN_EXCHANGE,
    tokenExchange,
    ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'audience', 'scope'],
    ['resource', 'audience'],
  );
  if (onBehalfOfEnabled) {
    next.registerGrantType(JWT_BEARER, onBehalfOf, ['assertion', 'requested_token_use', 'scope']);
  }
  // RFC 6749 section 5.2: a client not allowed the grant type gets unauthorized_client;
  // oidc-provider answers invalid_request. Decided by the client's grant types, not by words.
  next.use(async (ctx, nextMiddleware) => {
    await nextMiddleware();
    const { route, client, params } = ctx.oidc ?? {};
    if (route === 'token' && ctx.status === 400 && ctx.body?.error === 'invalid_request'
      && client && params?.grant_type && !client.grantTypeAllowed(params.grant_type)) {
      ctx.body = {
        error: 'unauthorized_client',
        error_description: `the client may not use the grant type ${params.grant_type}`,
      };
    }
  });
  if (bridge) next.use(bridge.middleware);
  if (shapes.length) next.use(dropNoAudience);
  next.use(async (ctx, nextMiddleware) => {
    try {
      await nextMiddleware();
    } finally {
      const route = ctx.oidc?.route;
      if (route === 'jwks') stats.jwks += 1;
      if (route === 'discovery') stats.metadata += 1;
      if (route === 'token' && ctx.oidc.params?.grant_type === TOKEN_EXCHANGE) stats.token_exchange += 1;
      if (route === 'token' && ctx.oidc.params?.grant_type === JWT_BEARER) stats.on_behalf_of += 1;
    }
  });
  publishedKeys = createLocalJWKSet({
    keys: signingKeys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
  });
  subjectForms = acceptedSubjectForms(shapes, issuer);
  provider = next;
  handle = next.callback();
}

async function testRoute(req, res) {
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const route = `${req.method} ${new URL(req.url, issuer).pathname}`;
  if (route === 'GET /__test/stats') return json(200, stats);
  if (route === 'POST /__test/reset') {
    for (const key of Object.keys(stats)) stats[key] = 0;
    return json(200, stats);
  }
  if (route === 'POST /__test/rotate') {
    const kid = await newSigningKey();
    buildProvider();
    return json(200, { kid });
  }
  return json(404, { error: 'not_found' });
}

await newSigningKey();
if (federatedClients.length) bridge = await federationBridge(federatedClients, () => issuer);
const server = createServer((req, res) => {
  if (req.url.startsWith('/__test/')) {
    testRoute(req, res).catch((err) => {
      console.error(err);
      res.writeHead(500).end();
    });
  } else {
    handle(req, res);
  }
});
server.listen(config.port ?? 0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  buildProvider();
  process.stdout.write(`LISTENING ${issuer}\n`);
});
