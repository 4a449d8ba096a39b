import { z } from 'zod'
import { bindFilter, type Lookup } from '../rules/index.ts'
import { newId } from './define.ts'
import { type Collection, FIELD_TYPES, type Field, type FieldOptions, RULE_ACTIONS } from './types.ts'

/**
 * A draft field as the console holds it while editing: looser than a definition (a select may have no values
 * yet), since only what a rule can reach matters here — names, types, relation targets, `multiple`.
 */
const draftField = z.object({
  id: z.string().max(40).optional(),
  name: z.string().max(100),
  type: z.enum(FIELD_TYPES),
  required: z.boolean().optional(),
  unique: z.boolean().optional(),
  hidden: z.boolean().optional(),
  options: z
    .object({
      collection: z.string().max(100).optional(),
      multiple: z.boolean().optional(),
    })
    .optional(),
  system: z.boolean().optional(),
})

/** POST /api/collections/check-rule's body. */
export const checkRuleInput = z
  .object({
    collection: z
      .object({
        name: z.string().max(100).describe('The collection as it will be named (a new one, or a rename).'),
        fields: z.array(draftField).max(200).describe('The fields as drafted; ids are optional.'),
      })
      .describe('The draft collection the rule belongs to.'),
    action: z.enum(RULE_ACTIONS),
    rule: z.string().max(4096).describe('The expression; "" (everyone) is always valid.'),
  })
  .strict()

export type CheckRuleInput = z.output<typeof checkRuleInput>

/**
 * Checks `rule` as the collections service will on save: parsed and bound against the draft collection (its
 * own name resolving to the draft, so self-relations and back-relations work before it exists) and the live
 * collections. Throws INVALID_FILTER with `details.position` (0-based offset) when it would be refused.
 */
export function checkDraftRule(input: CheckRuleInput, lookup: Lookup): void {
  if (input.rule.trim() === '') return
  const live = lookup(input.collection.name)
  const draft: Collection = {
    id: live?.id ?? '00000000-0000-0000-0000-000000000000',
    name: input.collection.name,
    fields: input.collection.fields.map(
      (f): Field => ({
        id: f.id ?? newId(),
        name: f.name,
        type: f.type,
        required: f.required ?? false,
        unique: f.unique ?? false,
        hidden: f.hidden ?? false,
        options: pruned(f.options ?? {}),
        ...(f.system ? { system: true } : {}),
      }),
    ),
    indexes: [],
    rules: live?.rules ?? { list: null, view: null, create: null, update: null, delete: null },
    created: live?.created ?? new Date(0).toISOString(),
    updated: live?.updated ?? new Date(0).toISOString(),
  }
  // The same binding ruleProblem() runs for the service: one parser, one set of checks.
  bindFilter(input.rule, draft, (n) => (n === draft.name ? draft : lookup(n)), { auth: null }, false)
}

function pruned(o: FieldOptions): FieldOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as FieldOptions
}
