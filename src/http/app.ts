// The HTTP layer: thin routes that declare their scope, call one domain function with the
// caller's program first, and map the domain's outcomes to status codes and RFC 9457
// problems. Nothing below src/http knows about HTTP.
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SCOPES, type AuthService, type Principal } from '../auth/index.ts';
import type { Db } from '../db/connect.ts';
import type { GroupCommitter } from '../events/index.ts';
import type { MemberViewCache } from '../members/cache.ts';
import type { ProgramCache } from '../programs/index.ts';
import { registerOAuthRoutes } from './oauth-routes.ts';
import { PROBLEMS, problem, sendProblem, type FieldError } from './problems.ts';
import { registerDraftRoutes } from './routes/drafts.ts';
import { registerCampaignRoutes } from './routes/campaigns.ts';
import { registerEventRoutes } from './routes/events.ts';
import { registerSegmentRoutes } from './routes/segments.ts';
import { registerSimulationRoutes } from './routes/simulations.ts';
import { registerExperimentRoutes } from './routes/experiments.ts';
import { registerExpiryRoutes } from './routes/expiry.ts';
import { registerMemberRoutes } from './routes/members.ts';
import { registerPendingRoutes } from './routes/pending.ts';
import { registerProgramRoutes } from './routes/program.ts';
import { registerRedemptionRoutes } from './routes/redemptions.ts';
import { registerRewardRoutes } from './routes/rewards.ts';
import { registerSystemRoutes } from './routes/system.ts';

export const BODY_BYTES_MAX = 64 * 1024;
export const BATCH_BODY_BYTES_MAX = 4 * 1024 * 1024;

export interface AppDeps {
  handle: Db;
  programs: ProgramCache;
  members: MemberViewCache;
  auth: AuthService;
  events: GroupCommitter;
  now: () => Date;
  logger?: Logger | false;
  version: string;
  /** Sends a job (absent where the process runs no job runner, as in tests). */
  sendJob?: (name: string, data: Record<string, unknown>) => Promise<unknown>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public. */
    scope?: (typeof SCOPES)[number];
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    loggerInstance: (deps.logger || undefined) as import('fastify').FastifyBaseLogger | undefined,
    logger: deps.logger ? undefined : false,
    bodyLimit: BODY_BYTES_MAX,
    // Strict JSON: no type coercion in bodies, nothing silently dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    // Ids may be 128 characters; the router's default limit on a path parameter is 100.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON everywhere; form bodies only at the token endpoint (RFC 6749), registered there.
  app.removeContentTypeParser('text/plain');
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Patron API',
        version: deps.version,
        description:
          'Real-time loyalty: events in, points on an append-only double-entry ledger, tiers, and an explanation for every posting. Errors are RFC 9457 problem documents; every code is listed under x-problem-codes.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [{ url: '/' }],
      tags: [
        { name: 'events', description: 'Ingest purchases, refunds and custom events' },
        { name: 'members', description: 'Balances, tiers and the ledger' },
        { name: 'program', description: 'The program document: rules, tiers, settings' },
        { name: 'rewards', description: 'The rewards catalogue, and what a member can redeem' },
        {
          name: 'redemptions',
          description: 'Spending points: hold, then confirm or cancel; vouchers',
        },
        { name: 'auth', description: 'OAuth2 client credentials' },
        { name: 'system', description: 'Health, readiness, documentation' },
      ],
      components: {
        securitySchemes: {
          oauth2: {
            type: 'oauth2',
            flows: {
              clientCredentials: {
                tokenUrl: '/oauth/token',
                scopes: Object.fromEntries(SCOPES.map((s) => [s, s])),
              },
            },
          },
        },
      },
      'x-problem-codes': Object.fromEntries(
        Object.entries(PROBLEMS).map(([code, def]) => [
          code,
          { type: `/problems/${code}`, ...def },
        ]),
      ),
    } as Record<string, unknown>,
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => (json.$id as string) || `def-${i}`,
    },
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const errors = validationErrors(error);
      return sendProblem(reply, problem('validation-failed', describeCount(errors.length), errors));
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendProblem(reply, problem('payload-too-large', error.message));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendProblem(reply, problem('unsupported-media-type', error.message));
    }
    if (
      error.statusCode === 400 ||
      error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      error instanceof SyntaxError
    ) {
      return sendProblem(reply, problem('malformed-request', error.message));
    }
    if (error.code === 'PATRON_OVERLOADED') {
      reply.header('retry-after', '1');
      return sendProblem(
        reply,
        problem('service-unavailable', 'Patron is overloaded; retry shortly'),
      );
    }
    request.log.error({ err: error }, 'request failed');
    return sendProblem(
      reply,
      problem('internal-error', 'an unexpected error occurred; nothing was written'),
    );
  });

  // Authentication and scope, declared per route in `config.scope`.
  app.addHook('onRequest', async (request, reply) => {
    const scope = request.routeOptions.config?.scope;
    if (!scope) return;
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    if (!match) {
      reply.header('www-authenticate', 'Bearer realm="patron"');
      return sendProblem(
        reply,
        problem('unauthorized', 'send an access token: Authorization: Bearer <token>'),
      );
    }
    const verified = await deps.auth.verifyAccessToken(match[1] as string);
    if (verified.status !== 'valid') {
      const detail =
        verified.status === 'expired'
          ? 'the access token has expired'
          : 'the access token is not valid';
      reply.header(
        'www-authenticate',
        `Bearer realm="patron", error="invalid_token", error_description="${detail}"`,
      );
      return sendProblem(reply, problem('unauthorized', detail));
    }
    if (!verified.principal.scopes.has(scope)) {
      reply.header(
        'www-authenticate',
        `Bearer realm="patron", error="insufficient_scope", scope="${scope}"`,
      );
      return sendProblem(
        reply,
        problem('insufficient-scope', `this operation needs the scope ${scope}`),
      );
    }
    request.principal = verified.principal;
  });

  registerSystemRoutes(app, deps);
  await app.register(async (oauth) => {
    await oauth.register(formbody);
    registerOAuthRoutes(oauth as unknown as FastifyInstance, deps.auth);
  });
  registerEventRoutes(app, deps);
  registerMemberRoutes(app, deps);
  registerRedemptionRoutes(app, deps);
  registerPendingRoutes(app, deps);
  registerProgramRoutes(app, deps);
  registerDraftRoutes(app, deps);
  registerExperimentRoutes(app, deps);
  registerCampaignRoutes(app, deps);
  await registerSegmentRoutes(app, deps);
  registerSimulationRoutes(app, deps);
  registerRewardRoutes(app, deps);
  registerExpiryRoutes(app, deps);
  return app;
}

/** The caller's identity on a route that declared a scope (the hook guarantees it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route without a scope asked for the principal');
  return request.principal;
}

export function describeCount(count: number): string {
  return count === 1 ? '1 field is invalid' : `${count} fields are invalid`;
}

/** Fastify's (Ajv's) validation errors as JSON Pointers into the request. */
function validationErrors(error: FastifyError): FieldError[] {
  const context = (error as { validationContext?: string }).validationContext ?? 'body';
  const prefix = context === 'body' ? '' : `/${context}`;
  return (error.validation ?? []).map((v) => {
    const params = v.params as Record<string, unknown>;
    let pointer = `${prefix}${v.instancePath}`;
    let detail = v.message ?? 'is invalid';
    if (v.keyword === 'required' && typeof params.missingProperty === 'string') {
      pointer = `${pointer}/${params.missingProperty}`;
      detail = `${params.missingProperty} is required`;
    } else if (
      v.keyword === 'additionalProperties' &&
      typeof params.additionalProperty === 'string'
    ) {
      pointer = `${pointer}/${params.additionalProperty}`;
      detail = `unknown field "${params.additionalProperty}"`;
    } else {
      const field = pointer.split('/').filter(Boolean).at(-1) ?? context;
      detail = `${field} ${detail}`;
    }
    return { pointer: pointer || '/', detail };
  });
}
