// Token shapes of the authorization servers people run (issue 15), applied to the JWT access
// tokens oidc-provider issues. Pure data and functions: server.mjs calls shapeFor() and
// applyShape() from its formats.customizers.jwt hook.
//
// A shape rule is {client_id?, target?, kind?, preset?, typ?, iss?, tenant?, aud?, scope_claim?,
// scope_format?, permissions?, claims?, drop?}; the first rule whose given selectors all match
// (client the token is issued to, requested resource/audience, "inbound"/"downstream") applies.
// A preset fills in what the rule leaves out. String claim values may use {client_id}, {sub},
// {tenant} and {target}.

// The sentinel for "no aud at all" (Cognito): oidc-provider refuses to sign a JWT access token
// without an audience, so the customizer sets this and server.mjs re-signs the token without it.
export const NO_AUDIENCE = 'urn:keycard-serve-test:no-audience';

const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

export const TOKEN_PRESETS = {
  // Keycloak 26: typ JWT, azp, aud a client id (set `aud` in the rule), scope string.
  keycloak: {
    typ: 'JWT',
    claims: { azp: '{client_id}', typ: 'Bearer', preferred_username: '{sub}' },
  },
  // Entra ID v1 access token: sts.windows.net issuer, scp string, appid instead of client_id.
  entra: {
    typ: 'JWT',
    iss: 'https://sts.windows.net/{tenant}/',
    scope_claim: 'scp',
    claims: { ver: '1.0', tid: '{tenant}', appid: '{client_id}', oid: '{sub}' },
    drop: ['client_id', 'act'],
  },
  // Okta custom authorization server: no typ header, scp JSON array, cid/uid.
  okta: {
    typ: null,
    scope_claim: 'scp',
    scope_format: 'array',
    claims: { ver: 1, cid: '{client_id}', uid: '{sub}' },
    drop: ['client_id'],
  },
  // Auth0 (default token profile): typ JWT, azp, scope string, RBAC permissions array.
  auth0: {
    typ: 'JWT',
    permissions: true,
    claims: { azp: '{client_id}' },
    drop: ['client_id'],
  },
  // Cognito user-pool access token: no typ, no aud, client_id + token_use.
  cognito: {
    typ: null,
    aud: null,
    claims: { token_use: 'access', username: '{sub}', version: 2 },
  },
  // Duende IdentityServer: at+jwt, scope a JSON array once there is more than one scope.
  duende: { typ: 'at+jwt', scope_format: 'array_if_many' },
};

function matches(rule, { clientId, target, kind }) {
  return (rule.client_id === undefined || rule.client_id === clientId)
    && (rule.target === undefined || rule.target === target)
    && (rule.kind === undefined || rule.kind === kind);
}

// A rule with its preset merged under it.
function resolve(rule) {
  const preset = rule.preset === undefined ? {} : TOKEN_PRESETS[rule.preset];
  if (!preset) throw new Error(`unknown token shape preset ${rule.preset}`);
  return {
    ...preset,
    ...rule,
    tenant: rule.tenant ?? ENTRA_TENANT,
    claims: { ...preset.claims, ...rule.claims },
  };
}

// The effective shape of the first rule matching a token, or undefined.
export function shapeFor(rules, selectors) {
  const rule = rules.find((candidate) => matches(candidate, selectors));
  return rule && resolve(rule);
}

function fill(value, vars) {
  if (typeof value === 'string') return value.replace(/\{(\w+)\}/g, (all, name) => vars[name] ?? all);
  if (Array.isArray(value)) return value.map((item) => fill(item, vars));
  return value;
}

function scopeValue(scopes, format) {
  if (format === 'array') return scopes;
  if (format === 'array_if_many') return scopes.length > 1 ? scopes : scopes[0];
  return scopes.join(' ');
}

// Rewrite oidc-provider's {header, payload} in place. `target` is the requested
// resource/audience; `clientId` the client the token is issued to.
export function applyShape(shape, structured, { clientId, target }) {
  const { payload } = structured;
  const vars = { client_id: clientId, sub: payload.sub, tenant: shape.tenant, target };
  if ('typ' in shape) structured.header = { ...structured.header, typ: shape.typ ?? undefined };
  if (shape.iss) payload.iss = fill(shape.iss, vars);
  if ('aud' in shape) payload.aud = shape.aud === null ? NO_AUDIENCE : fill(shape.aud, vars);
  const scopes = payload.scope ? payload.scope.split(' ') : [];
  delete payload.scope;
  if (scopes.length) {
    payload[shape.scope_claim ?? 'scope'] = scopeValue(scopes, shape.scope_format ?? 'string');
  }
  if (shape.permissions) payload.permissions = scopes;
  for (const [name, value] of Object.entries(shape.claims)) payload[name] = fill(value, vars);
  for (const name of shape.drop ?? []) delete payload[name];
}

// Issuers and typ values a subject token may carry when it was shaped by one of `rules`.
export function acceptedSubjectForms(rules, issuer) {
  const issuers = new Set([issuer]);
  const types = new Set(['at+jwt']);
  for (const shape of rules.map(resolve)) {
    if (shape.iss) issuers.add(fill(shape.iss, { tenant: shape.tenant }));
    if ('typ' in shape) types.add(shape.typ ?? null);
  }
  return { issuers, types };
}

// Exchange flavours, per exchanging client: {preset?, flavour?, target?, issued_token_type?,
// subject_token_types?, extra_response?}. `target`: "resource" (RFC 8707, today's default),
// "audience" (a `resource` parameter is refused) or "any" (resource and/or audience).
// `issued_token_type`: "access_token", "jwt" or null (omitted from the response).
export const EXCHANGE_PRESETS = {
  keycloak: {
    target: 'audience',
    extra_response: { refresh_expires_in: 0, 'not-before-policy': 0 },
  },
  okta: { target: 'audience' },
  auth0: { target: 'audience' },
  entra: { flavour: 'on_behalf_of' },
  duende: { target: 'any' },
  'issued-jwt': { issued_token_type: 'jwt' },
  'issued-none': { issued_token_type: null },
};

export function exchangeFlavour(config) {
  const preset = config?.preset === undefined ? {} : EXCHANGE_PRESETS[config.preset];
  if (!preset) throw new Error(`unknown exchange preset ${config.preset}`);
  return {
    flavour: 'token_exchange',
    target: 'resource',
    issued_token_type: 'access_token',
    extra_response: {},
    ...preset,
    ...config,
  };
}
