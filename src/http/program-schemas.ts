// Wire schemas of the program's versions, drafts, diffs, publications and change log: one
// schema validates each request and feeds the OpenAPI document.
import { Type, type TSchema } from 'typebox';
import { DRAFT_NAME_LENGTH_MAX } from '../programs/drafts.ts';
import { REASON_LENGTH_MAX } from '../programs/index.ts';
import { ProgramDocumentSchema, RETAIL_EXAMPLE } from '../rules/index.ts';
import { PageQuery } from './schemas.ts';

const Instant = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Page = <T extends TSchema>(item: T, example: unknown) =>
  Type.Object(
    { items: Type.Array(item), nextCursor: Nullable(Type.String()) },
    { examples: [{ items: [example], nextCursor: null }] },
  );

const VERSION_EXAMPLE = {
  programId: 'demo',
  version: 3,
  current: true,
  createdAt: '2026-11-21T09:00:00.000Z',
  createdBy: 'client:demo',
  reason: 'Weekend double points',
  origin: 'draft',
  draftId: 'drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
  rollbackOf: null,
};
const DRAFT_EXAMPLE = {
  id: 'drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
  name: 'Black Friday',
  status: 'open',
  revision: 4,
  baseVersion: 3,
  outdated: false,
  publishedVersion: null,
  createdAt: '2026-11-20T08:00:00.000Z',
  createdBy: 'client:marketing',
  updatedAt: '2026-11-21T16:30:00.000Z',
  updatedBy: 'client:marketing',
};
const PUBLICATION_EXAMPLE = {
  id: 'pub_01KAQ4Z1B7C3D5E8F0G2H4J6K8',
  draftId: 'drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
  effectiveAt: '2026-11-27T23:00:00.000Z',
  reason: 'Black Friday starts at midnight in Prague',
  status: 'scheduled',
  version: null,
  settledAt: null,
  createdAt: '2026-11-21T16:31:00.000Z',
  createdBy: 'client:marketing',
};
const CHANGE_EXAMPLE = {
  id: 'chg_01KAQ4Z1B7C3D5E8F0G2H4J6K9',
  at: '2026-11-21T16:31:00.000Z',
  actor: 'client:marketing',
  action: 'publication.scheduled',
  reason: 'Black Friday starts at midnight in Prague',
  version: null,
  draftId: 'drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
  publicationId: 'pub_01KAQ4Z1B7C3D5E8F0G2H4J6K8',
};

export const Reason = Type.String({
  minLength: 1,
  maxLength: REASON_LENGTH_MAX,
  description: 'Why: kept in the change log with who made the change and when',
  examples: ['Black Friday: triple points on electronics'],
});

export const VersionSummary = Type.Object({
  programId: Type.String(),
  version: Type.Integer(),
  current: Type.Boolean({ description: 'Whether this version is in force' }),
  createdAt: Instant,
  createdBy: Type.String(),
  reason: Nullable(Type.String()),
  origin: Type.Union(
    ['create', 'put', 'draft', 'rollback', 'schedule'].map((o) => Type.Literal(o)),
    {
      description:
        'How it was published: with the program, by PUT /v1/program, from a draft, by a rollback, or by a scheduled publication',
    },
  ),
  draftId: Nullable(Type.String()),
  rollbackOf: Nullable(Type.Integer({ description: 'The version this one copies' })),
});

export const ProgramVersion = Type.Object(
  { ...VersionSummary.properties, document: ProgramDocumentSchema },
  { examples: [{ ...VERSION_EXAMPLE, document: RETAIL_EXAMPLE }] },
);

export const VersionPage = Page(VersionSummary, VERSION_EXAMPLE);

export const VersionParam = Type.Object({ version: Type.String({ pattern: '^[1-9][0-9]{0,8}$' }) });

const DocumentError = Type.Object({ pointer: Type.String(), detail: Type.String() });

export const Validation = Type.Object(
  {
    valid: Type.Boolean(),
    errors: Type.Array(DocumentError, {
      description:
        'Every error at once, each with a JSON Pointer into the draft document; a bad condition names its rule and line:column',
    }),
  },
  {
    examples: [
      {
        valid: false,
        errors: [
          {
            pointer: '/rules/1/condition',
            detail: 'rule "weekend": Unknown variable: locl at 1:1',
          },
        ],
      },
    ],
  },
);

const DraftFields = {
  id: Type.String({ examples: ['drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC'] }),
  name: Type.String(),
  status: Type.Union(['open', 'scheduled', 'published', 'discarded'].map((s) => Type.Literal(s))),
  revision: Type.Integer({
    description: 'Counts saves; send it back with the next save to detect concurrent edits',
  }),
  baseVersion: Type.Integer({ description: 'The version in force when the draft was started' }),
  outdated: Type.Boolean({
    description: 'A version was published after baseVersion: publishing needs allowOutdated',
  }),
  publishedVersion: Nullable(Type.Integer()),
  createdAt: Instant,
  createdBy: Type.String(),
  updatedAt: Instant,
  updatedBy: Type.String(),
};

export const DraftSummary = Type.Object(DraftFields);
export const DraftPage = Page(DraftSummary, DRAFT_EXAMPLE);

export const Draft = Type.Object(
  {
    ...DraftFields,
    document: Type.Unknown({ description: 'The document as last saved (it may be invalid)' }),
    validation: Validation,
  },
  {
    examples: [
      { ...DRAFT_EXAMPLE, document: RETAIL_EXAMPLE, validation: { valid: true, errors: [] } },
    ],
  },
);

const DraftName = Type.String({ minLength: 1, maxLength: DRAFT_NAME_LENGTH_MAX });

export const DraftCreateRequest = Type.Object(
  {
    name: Type.Optional(DraftName),
    document: Type.Optional(
      Type.Unknown({
        description:
          'The starting document, valid or not (default: a copy of fromVersion); it is validated on publish',
      }),
    ),
    fromVersion: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Copy this version (default: the one in force)' }),
    ),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, examples: [{ name: 'Black Friday', reason: 'Campaign prep' }] },
);

export const DraftPatchRequest = Type.Object(
  {
    name: Type.Optional(DraftName),
    document: Type.Optional(Type.Unknown({ description: 'The whole new document' })),
    revision: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Save only if the draft is still at this revision (409 draft-stale otherwise)',
      }),
    ),
    reason: Type.Optional(Reason),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [{ document: RETAIL_EXAMPLE, revision: 4, reason: 'Weekend factor 2 → 3' }],
  },
);

export const DraftPublishRequest = Type.Object(
  {
    reason: Reason,
    effectiveAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'Take effect at this future instant (at most a year ahead) instead of at once; the version number is given when it takes effect',
      }),
    ),
    allowOutdated: Type.Optional(
      Type.Boolean({
        description:
          'Publish even though a version was published after the draft was started (default false)',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ reason: 'Weekend double points' }] },
);

export const ReasonRequest = Type.Object(
  { reason: Type.Optional(Reason) },
  { additionalProperties: false, examples: [{ reason: 'Postponed to next week' }] },
);
export const RequiredReasonRequest = Type.Object(
  { reason: Reason },
  {
    additionalProperties: false,
    examples: [{ reason: 'Version 7 over-issued points on groceries' }],
  },
);

export const DraftIdParam = Type.Object({
  id: Type.String({ pattern: '^drf_[0-9A-Z]{26}$' }),
});
export const PublicationIdParam = Type.Object({
  id: Type.String({ pattern: '^pub_[0-9A-Z]{26}$' }),
});

export const Publication = Type.Object(
  {
    id: Type.String({ examples: ['pub_01KAQ3M8F6X2J9V0T5R7Y4W1ZC'] }),
    draftId: Type.String(),
    effectiveAt: Instant,
    reason: Type.String(),
    status: Type.Union(['scheduled', 'published', 'cancelled'].map((s) => Type.Literal(s))),
    version: Nullable(Type.Integer({ description: 'The version it became, once published' })),
    settledAt: Nullable(Instant),
    createdAt: Instant,
    createdBy: Type.String(),
  },
  { examples: [PUBLICATION_EXAMPLE] },
);
export const PublicationPage = Page(Publication, PUBLICATION_EXAMPLE);

export const Change = Type.Object({
  id: Type.String(),
  at: Instant,
  actor: Type.String({ description: 'client:<id> of the credentials that made the change' }),
  action: Type.Union(
    [
      'version.published',
      'draft.created',
      'draft.updated',
      'draft.discarded',
      'publication.scheduled',
      'publication.cancelled',
    ].map((a) => Type.Literal(a)),
  ),
  reason: Nullable(Type.String()),
  version: Nullable(Type.Integer()),
  draftId: Nullable(Type.String()),
  publicationId: Nullable(Type.String()),
});
export const ChangePage = Page(Change, CHANGE_EXAMPLE);

const FieldChange = Type.Object({
  pointer: Type.String({ description: 'RFC 6901 pointer' }),
  from: Type.Optional(Type.Unknown({ description: 'Absent when the value was added' })),
  to: Type.Optional(Type.Unknown({ description: 'Absent when the value was removed' })),
});
const ItemChange = Type.Object({
  id: Type.String(),
  name: Type.String(),
  fields: Type.Array(FieldChange, { description: 'Pointers relative to the item' }),
});
const Order = Type.Object({ from: Type.Array(Type.String()), to: Type.Array(Type.String()) });
const Keyed = (itemKey: 'rule' | 'level' | 'campaign' | 'experiment') => {
  const Entry = Type.Object({
    id: Type.String(),
    name: Type.String(),
    position: Type.Integer({ description: 'Zero-based, in the document it is part of' }),
    [itemKey]: Type.Unknown(),
  });
  return Type.Object({
    added: Type.Array(Entry),
    removed: Type.Array(Entry),
    changed: Type.Array(ItemChange),
    reordered: Type.Boolean(),
    order: Type.Optional(Order),
  });
};

export const Diff = Type.Object(
  {
    from: Type.String({ description: 'What is compared: "version 3" or "draft drf_…"' }),
    to: Type.String(),
    identical: Type.Boolean(),
    rules: Keyed('rule'),
    tierLevels: Keyed('level'),
    campaigns: Keyed('campaign'),
    experiments: Keyed('experiment'),
    fields: Type.Array(FieldChange, { description: 'Every other change, from the document root' }),
  },
  {
    examples: [
      {
        from: 'version 3',
        to: 'draft drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
        identical: false,
        rules: {
          added: [],
          removed: [],
          changed: [
            {
              id: 'weekend',
              name: 'Double points at weekends',
              fields: [{ pointer: '/effect/factor', from: '2', to: '3' }],
            },
          ],
          reordered: false,
        },
        tierLevels: { added: [], removed: [], changed: [], reordered: false },
        campaigns: {
          added: [],
          removed: [],
          changed: [
            {
              id: 'black-friday',
              name: 'Black Friday',
              fields: [{ pointer: '/budget/points', from: 100000, to: 150000 }],
            },
          ],
          reordered: false,
        },
        experiments: { added: [], removed: [], changed: [], reordered: false },
        fields: [{ pointer: '/settings/expiry/warningDays', from: 30, to: 14 }],
      },
    ],
  },
);

export const DiffQuery = Type.Object({
  against: Type.Optional(
    Type.String({
      pattern: '^[1-9][0-9]{0,8}$',
      description: 'The version to compare with',
    }),
  ),
});

export const ListQuery = Type.Object({
  ...PageQuery.properties,
  status: Type.Optional(
    Type.Literal('all', { description: 'Include settled items (default: only those still open)' }),
  ),
});
