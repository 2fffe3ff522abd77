// Starting points for `patron program create ID --template …`. Each is a complete document
// that passes validateProgramDocument (the tests prove it).

import { RETAIL_EXAMPLE, type ProgramDocument } from './document.ts';

export type TemplateName = 'retail' | 'casino' | 'empty';
export const TEMPLATE_NAMES: readonly TemplateName[] = ['retail', 'casino', 'empty'];

function retail(): ProgramDocument {
  const example = structuredClone(RETAIL_EXAMPLE) as unknown as ProgramDocument;
  return {
    ...example,
    name: 'Retail program',
    eventTypes: { purchase: { kind: 'purchase' }, refund: { kind: 'refund' } },
    rules: example.rules.filter((rule) => rule.id !== 'review-bonus'),
  };
}

function gameType(name: string): string {
  return `event.attributes.?gameType.orValue('') == '${name}'`;
}

function casino(): ProgramDocument {
  return {
    name: 'Casino program',
    timeZone: 'Europe/Malta',
    currencies: ['EUR'],
    eventTypes: {
      BetPlaced: { kind: 'custom', amount: 'required' },
      WinCredited: { kind: 'custom' },
      DepositMade: { kind: 'custom', amount: 'required' },
      BonusRedeemed: { kind: 'custom', amount: 'optional' },
      refund: { kind: 'refund' },
    },
    rules: [
      {
        id: 'turnover',
        name: '1 point per EUR wagered',
        eventTypes: ['BetPlaced'],
        effect: { type: 'earn', pointsPerUnit: '1' },
      },
      {
        id: 'slots',
        name: 'Slots count in full',
        eventTypes: ['BetPlaced'],
        condition: gameType('slots'),
        effect: { type: 'multiplier', factor: '1' },
      },
      {
        id: 'table',
        name: 'Table games count half',
        eventTypes: ['BetPlaced'],
        condition: gameType('table'),
        effect: { type: 'multiplier', factor: '0.5' },
      },
      {
        id: 'live',
        name: 'Live games count 1.5×',
        eventTypes: ['BetPlaced'],
        condition: gameType('live'),
        effect: { type: 'multiplier', factor: '1.5' },
      },
      {
        id: 'exclusive',
        name: 'Exclusive games count double',
        eventTypes: ['BetPlaced'],
        condition: gameType('exclusive'),
        effect: { type: 'multiplier', factor: '2' },
      },
    ],
    tiers: {
      metric: { type: 'amount', eventTypes: ['BetPlaced'] },
      window: { type: 'lifetime' },
      retentionWindow: { type: 'rolling', days: 30 },
      levels: [
        { id: 'bronze', name: 'Bronze', threshold: 0, multiplier: '1' },
        {
          id: 'silver',
          name: 'Silver',
          threshold: 10000,
          multiplier: '1.1',
          benefits: { cashbackPercent: '1' },
        },
        {
          id: 'gold',
          name: 'Gold',
          threshold: 50000,
          multiplier: '1.25',
          benefits: { cashbackPercent: '2', perks: ['e-mail support'] },
        },
        {
          id: 'platinum',
          name: 'Platinum',
          threshold: 200000,
          multiplier: '1.5',
          benefits: { cashbackPercent: '3', perks: ['personal manager'] },
        },
      ],
    },
    settings: {
      backdatingWindowDays: 90,
      createMembersOnEvent: true,
      negativeBalance: 'allow',
      // Lock on request, debit on confirm: a hold lasts as long as a game round may take.
      redemption: {
        holdTtl: 'PT5M',
        pointValue: { points: 1000, value: { value: '10.00', currency: 'EUR' } },
      },
      // Points expire after 6 months without a bet that earns points.
      expiry: { policy: { type: 'inactivity', months: 12 }, warningDays: 14 },
    },
  };
}

function empty(): ProgramDocument {
  return {
    name: 'Empty program',
    timeZone: 'UTC',
    currencies: ['EUR'],
    eventTypes: { purchase: { kind: 'purchase' }, refund: { kind: 'refund' } },
    rules: [],
    settings: { backdatingWindowDays: 90, createMembersOnEvent: true, negativeBalance: 'allow' },
  };
}

/** A fresh copy of the named template (callers may mutate it). */
export function programTemplate(name: TemplateName): ProgramDocument {
  switch (name) {
    case 'retail':
      return retail();
    case 'casino':
      return casino();
    case 'empty':
      return empty();
  }
}
