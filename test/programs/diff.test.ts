import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffPrograms, type ProgramDiff } from '../../src/programs/diff.ts';
import { programTemplate } from '../../src/rules/index.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests reshape documents freely, drafts included
type Loose = any;

function retail(): Loose {
  return programTemplate('retail');
}

const NO_RULE_CHANGES: ProgramDiff['rules'] = {
  added: [],
  removed: [],
  changed: [],
  reordered: false,
};
const NO_LEVEL_CHANGES: ProgramDiff['tierLevels'] = {
  added: [],
  removed: [],
  changed: [],
  reordered: false,
};

describe('identical documents', () => {
  it('reports nothing for two copies of the retail template', () => {
    expect(diffPrograms(retail(), retail())).toEqual({
      identical: true,
      rules: NO_RULE_CHANGES,
      tierLevels: NO_LEVEL_CHANGES,
      campaigns: NO_RULE_CHANGES,
      experiments: NO_RULE_CHANGES,
      fields: [],
    });
  });

  it('treats a key whose value is undefined as absent', () => {
    const draft = retail();
    draft.rules[0].condition = undefined;
    draft.settings.pending = undefined;
    expect(diffPrograms(retail(), draft).identical).toBe(true);
  });
});

describe('campaigns and experiments', () => {
  const campaign = (id: string, points: number): Loose => ({
    id,
    name: `Campaign ${id}`,
    budget: { points },
    rules: [
      {
        id: `${id}-bonus`,
        name: 'bonus',
        eventTypes: ['purchase'],
        effect: { type: 'bonus', points: 5 },
      },
    ],
  });

  it('matches campaigns by id: a budget change is reported at the campaign, an added one with its position', () => {
    const before = { ...retail(), campaigns: [campaign('spring', 1000)] };
    const after = { ...retail(), campaigns: [campaign('summer', 500), campaign('spring', 2000)] };
    const diff = diffPrograms(before, after);
    expect(diff.campaigns).toEqual({
      added: [{ id: 'summer', name: 'Campaign summer', position: 0, campaign: after.campaigns[0] }],
      removed: [],
      changed: [
        {
          id: 'spring',
          name: 'Campaign spring',
          fields: [{ pointer: '/budget/points', from: 1000, to: 2000 }],
        },
      ],
      reordered: false,
    });
    expect(diff.fields).toEqual([]);
    expect(diff.identical).toBe(false);
  });

  it('reports an experiment added to a document that had none as one field, and removed ones by id', () => {
    const experiment: Loose = {
      id: 'ab',
      name: 'A/B',
      controlPercent: 50,
      variants: [{ id: 'b', name: 'B', percent: 50 }],
    };
    expect(diffPrograms(retail(), { ...retail(), experiments: [experiment] }).fields).toEqual([
      { pointer: '/experiments', to: [experiment] },
    ]);
    const removed = diffPrograms(
      { ...retail(), experiments: [experiment] },
      { ...retail(), experiments: [] },
    );
    expect(removed.experiments.removed).toEqual([
      { id: 'ab', name: 'A/B', position: 0, experiment },
    ]);
  });
});

describe('rules', () => {
  it('reports a factor change at the rule, with a pointer relative to the rule', () => {
    const draft = retail();
    draft.rules[1].effect.factor = '3';
    const diff = diffPrograms(retail(), draft);
    expect(diff.identical).toBe(false);
    expect(diff.rules).toEqual({
      ...NO_RULE_CHANGES,
      changed: [
        {
          id: 'weekend',
          name: 'Double points at weekends',
          fields: [{ pointer: '/effect/factor', from: '2', to: '3' }],
        },
      ],
    });
    expect(diff.fields).toEqual([]);
  });

  it('names a changed rule by its new name and reports the rename as a field', () => {
    const draft = retail();
    draft.rules[0].name = '2 points per EUR';
    draft.rules[0].effect.pointsPerUnit = '2';
    expect(diffPrograms(retail(), draft).rules.changed).toEqual([
      {
        id: 'base',
        name: '2 points per EUR',
        fields: [
          { pointer: '/name', from: '1 point per EUR', to: '2 points per EUR' },
          { pointer: '/effect/pointsPerUnit', from: '1', to: '2' },
        ],
      },
    ]);
  });

  it('reports a condition added to a rule without a `from`', () => {
    const draft = retail();
    draft.rules[0].condition = 'local.hour >= 18';
    const [field] = diffPrograms(retail(), draft).rules.changed[0]?.fields ?? [];
    expect(field).toEqual({ pointer: '/condition', to: 'local.hour >= 18' });
    expect(field).not.toHaveProperty('from');
  });

  it('reports added and removed rules with their positions, without a reorder', () => {
    const draft = retail();
    const happyHour = {
      id: 'happy-hour',
      name: 'Double points after six',
      eventTypes: ['purchase'],
      condition: 'local.hour >= 18',
      effect: { type: 'multiplier', factor: '2' },
    };
    const weekend = draft.rules[1];
    draft.rules = [happyHour, draft.rules[0], draft.rules[2]];
    const diff = diffPrograms(retail(), draft);
    expect(diff.rules).toEqual({
      added: [{ id: 'happy-hour', name: 'Double points after six', position: 0, rule: happyHour }],
      removed: [{ id: 'weekend', name: 'Double points at weekends', position: 1, rule: weekend }],
      changed: [],
      reordered: false,
    });
    expect(diff.fields).toEqual([]);
  });

  it('detects a change in the evaluation order of the rules common to both', () => {
    const draft = retail();
    draft.rules = [draft.rules[0], draft.rules[2], draft.rules[1]];
    const diff = diffPrograms(retail(), draft);
    expect(diff.identical).toBe(false);
    expect(diff.rules).toEqual({
      ...NO_RULE_CHANGES,
      reordered: true,
      order: { from: ['base', 'weekend', 'electronics'], to: ['base', 'electronics', 'weekend'] },
    });
  });

  it('reports a rule whose id changed as one removed and one added', () => {
    const draft = retail();
    draft.rules[1].id = 'weekends';
    const diff = diffPrograms(retail(), draft);
    expect(diff.rules.changed).toEqual([]);
    expect(diff.rules.removed.map(({ id, position }) => ({ id, position }))).toEqual([
      { id: 'weekend', position: 1 },
    ]);
    expect(diff.rules.added.map(({ id, position }) => ({ id, position }))).toEqual([
      { id: 'weekends', position: 1 },
    ]);
    expect(diff.rules.reordered).toBe(false);
  });

  it("reports a rule's changed event types as one change of the whole list", () => {
    const draft = retail();
    draft.rules[0].eventTypes = ['purchase', 'review'];
    expect(diffPrograms(retail(), draft).rules.changed[0]?.fields).toEqual([
      { pointer: '/eventTypes', from: ['purchase'], to: ['purchase', 'review'] },
    ]);
  });
});

describe('tiers', () => {
  it('reports a level threshold change at the level', () => {
    const draft = retail();
    draft.tiers.levels[1].threshold = 1500;
    const diff = diffPrograms(retail(), draft);
    expect(diff.tierLevels).toEqual({
      ...NO_LEVEL_CHANGES,
      changed: [
        { id: 'silver', name: 'Silver', fields: [{ pointer: '/threshold', from: 1000, to: 1500 }] },
      ],
    });
    expect(diff.rules).toEqual(NO_RULE_CHANGES);
    expect(diff.fields).toEqual([]);
  });

  it('reports added and removed levels with their positions', () => {
    const draft = retail();
    const diamond = { id: 'diamond', name: 'Diamond', threshold: 50000, multiplier: '2' };
    draft.tiers.levels = [...draft.tiers.levels.filter((l: Loose) => l.id !== 'gold'), diamond];
    const diff = diffPrograms(retail(), draft);
    expect(diff.tierLevels.added).toEqual([
      { id: 'diamond', name: 'Diamond', position: 3, level: diamond },
    ]);
    expect(diff.tierLevels.removed.map(({ id, position }) => ({ id, position }))).toEqual([
      { id: 'gold', position: 2 },
    ]);
  });

  it('reports the metric and window of tiers as fields from the document root', () => {
    const draft = retail();
    draft.tiers.window = { type: 'rolling', days: 365 };
    expect(diffPrograms(retail(), draft).fields).toEqual([
      { pointer: '/tiers/window/type', from: 'calendarYear', to: 'rolling' },
      { pointer: '/tiers/window/days', to: 365 },
    ]);
  });

  it('reports tiers removed entirely as one change at /tiers', () => {
    const draft = retail();
    delete draft.tiers;
    const before = retail();
    const diff = diffPrograms(before, draft);
    expect(diff.fields).toEqual([{ pointer: '/tiers', from: before.tiers }]);
    expect(diff.tierLevels).toEqual(NO_LEVEL_CHANGES);
    expect(diffPrograms(draft, before).fields).toEqual([{ pointer: '/tiers', to: before.tiers }]);
  });
});

describe('other fields', () => {
  it('reports a settings leaf change with its pointer', () => {
    const draft = retail();
    draft.settings.expiry.policy.months = 6;
    expect(diffPrograms(retail(), draft).fields).toEqual([
      { pointer: '/settings/expiry/policy/months', from: 12, to: 6 },
    ]);
  });

  it('reports an added event type as one change without a `from`', () => {
    const draft = retail();
    draft.eventTypes.review = { kind: 'custom', amount: 'forbidden' };
    const diff = diffPrograms(retail(), draft);
    expect(diff.fields).toEqual([
      { pointer: '/eventTypes/review', to: { kind: 'custom', amount: 'forbidden' } },
    ]);
    expect(diff.fields[0]).not.toHaveProperty('from');
  });

  it('reports changed currencies as one change of the whole list', () => {
    const draft = retail();
    draft.currencies = ['EUR', 'CZK'];
    expect(diffPrograms(retail(), draft).fields).toEqual([
      { pointer: '/currencies', from: ['EUR'], to: ['EUR', 'CZK'] },
    ]);
  });

  it('escapes "~" and "/" in pointer tokens as RFC 6901 says', () => {
    const before = retail();
    before.eventTypes['a/b~c'] = { kind: 'custom' };
    const draft = retail();
    draft.eventTypes['a/b~c'] = { kind: 'custom', amount: 'required' };
    expect(diffPrograms(before, draft).fields).toEqual([
      { pointer: '/eventTypes/a~1b~0c/amount', to: 'required' },
    ]);
  });

  it('lists fields in new-document order, then the removed keys', () => {
    const before = { name: 'A', gone: 1, timeZone: 'UTC', settings: { x: 1, y: 2 } };
    const after = { settings: { y: 3, z: 4 }, timeZone: 'Europe/Prague', name: 'B' };
    expect(diffPrograms(before, after).fields).toEqual([
      { pointer: '/settings/y', from: 2, to: 3 },
      { pointer: '/settings/z', to: 4 },
      { pointer: '/settings/x', from: 1 },
      { pointer: '/timeZone', from: 'UTC', to: 'Europe/Prague' },
      { pointer: '/name', from: 'A', to: 'B' },
      { pointer: '/gone', from: 1 },
    ]);
  });

  it('compares lists of objects other than rules and levels index by index', () => {
    const before = { settings: { windows: [{ days: 1 }, { days: 2 }] } };
    const after = { settings: { windows: [{ days: 1 }, { days: 3 }, { days: 4 }] } };
    expect(diffPrograms(before, after).fields).toEqual([
      { pointer: '/settings/windows/1/days', from: 2, to: 3 },
      { pointer: '/settings/windows/2', to: { days: 4 } },
    ]);
  });
});

describe('invalid drafts', () => {
  it('reports rules that are not an array as one change at /rules', () => {
    const before = retail();
    const draft = retail();
    draft.rules = 'none yet';
    const diff = diffPrograms(before, draft);
    expect(diff.fields).toEqual([{ pointer: '/rules', from: before.rules, to: 'none yet' }]);
    expect(diff.rules).toEqual(NO_RULE_CHANGES);
    expect(diff.identical).toBe(false);
  });

  it('compares rules by index when an id is missing or repeated', () => {
    const draft = retail();
    delete draft.rules[2].id;
    expect(diffPrograms(retail(), draft).fields).toEqual([
      { pointer: '/rules/2/id', from: 'electronics' },
    ]);
    const repeated = retail();
    repeated.rules[2].id = 'weekend';
    expect(diffPrograms(retail(), repeated).fields).toEqual([
      { pointer: '/rules/2/id', from: 'electronics', to: 'weekend' },
    ]);
  });

  it('accepts documents that are not objects at all', () => {
    expect(diffPrograms(null, retail()).fields).toEqual([
      { pointer: '', from: null, to: retail() },
    ]);
    expect(diffPrograms([1], [1]).identical).toBe(true);
    expect(diffPrograms(undefined, undefined).identical).toBe(true);
    expect(diffPrograms('a', 1).fields).toEqual([{ pointer: '', from: 'a', to: 1 }]);
  });

  it('does not look up keys such as constructor on the prototype', () => {
    expect(diffPrograms({ constructor: 1 }, {}).fields).toEqual([
      { pointer: '/constructor', from: 1 },
    ]);
  });

  it('survives nesting far deeper than any program', () => {
    let deep: unknown = [];
    for (let level = 0; level < 20_000; level++) deep = [deep];
    expect(() => diffPrograms({ settings: deep }, { settings: [deep] })).not.toThrow();
    expect(diffPrograms({ settings: deep }, { settings: deep }).identical).toBe(true);
  });

  it('never throws and finds a document identical to a copy of itself', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        diffPrograms(a, b);
        return diffPrograms(a, structuredClone(a)).identical;
      }),
      { numRuns: 300 },
    );
  });
});

describe('rules matched by id (property)', () => {
  const ids = ['base', 'weekend', 'electronics', 'happy-hour', 'birthday', 'first-order'];
  const rules = fc.uniqueArray(
    fc.record({
      id: fc.constantFrom(...ids),
      name: fc.constantFrom('One', 'Two'),
      eventTypes: fc.constant(['purchase']),
      effect: fc.record({ type: fc.constant('multiplier'), factor: fc.constantFrom('1', '2') }),
    }),
    { selector: (rule) => rule.id, maxLength: ids.length },
  );

  it('puts ids only in the draft in added and ids only in force in removed', () => {
    fc.assert(
      fc.property(rules, rules, (fromRules, toRules) => {
        const before = { ...retail(), rules: fromRules };
        const draft = { ...retail(), rules: toRules };
        const diff = diffPrograms(before, draft);
        const fromIds = fromRules.map((rule) => rule.id);
        const toIds = toRules.map((rule) => rule.id);

        expect(diff.rules.added.map(({ id, position }) => [id, position])).toEqual(
          toIds.flatMap((id, position) => (fromIds.includes(id) ? [] : [[id, position]])),
        );
        expect(diff.rules.removed.map(({ id, position }) => [id, position])).toEqual(
          fromIds.flatMap((id, position) => (toIds.includes(id) ? [] : [[id, position]])),
        );
        for (const { id } of diff.rules.changed) {
          expect(fromIds.includes(id) && toIds.includes(id)).toBe(true);
        }
        const common = (a: string[], b: string[]) => a.filter((id) => b.includes(id));
        expect(diff.rules.reordered).toBe(
          common(fromIds, toIds).join() !== common(toIds, fromIds).join(),
        );
        expect(diff.fields).toEqual([]);
        expect(diffPrograms(before, structuredClone(before)).identical).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
