import { AppError, errors, fromPgError } from '../../errors/index.ts'
import { type Collection, joinTableName } from '../collections/types.ts'

/**
 * Maps database errors to the wire shape, naming the field a constraint guards when the caller may read
 * it. A hidden field is never named to a caller who cannot read it: "another record has this value"
 * would tell them what a hidden field holds, so they get the generic error (409 CONFLICT for a unique one).
 */
export function mapRecordError(err: unknown, c: Collection, seeHidden: boolean): unknown {
  if (err instanceof AppError) return err
  const mapped = fromPgError(err)
  if (!mapped) return err
  const constraint = (err as { constraint?: string }).constraint
  const m = constraint ? /^f([a-z0-9]{10})_(uq|chk|fk)$/.exec(constraint) : null
  const found = m ? c.fields.find((f) => f.id === m[1]) : undefined
  const field = found && (!found.hidden || seeHidden) ? found : undefined
  const code = (err as { code?: string }).code
  if (field && code === '23505')
    return errors.validation({
      [field.name]: { code: 'not_unique', message: 'Another record has this value.' },
    })
  if (field && code === '23514')
    return errors.validation({
      [field.name]: { code: 'invalid', message: 'The value violates a constraint of this field.' },
    })
  if (code === '23503') {
    const jt = c.fields.find(
      (f) => (err as { table?: string }).table === joinTableName(f) && (!f.hidden || seeHidden),
    )
    const target = field ?? jt
    const isInsert = /insert or update/.test((err as Error).message)
    if (target && isInsert)
      return errors.validation({
        [target.name]: { code: 'not_found', message: 'The related record does not exist.' },
      })
    if (!isInsert) return errors.conflict('Other records still relate to this one.', { reason: 'restricted' })
  }
  if (code === '23505' && (err as { constraint?: string }).constraint === `${c.name}_pkey`) {
    return errors.conflict('A record with this id already exists.')
  }
  return new AppError(mapped.code, mapped.message, mapped.details)
}
