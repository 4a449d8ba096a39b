import type { BaseRecord } from '@bastide/protocol'

export type { BaseRecord, ListResult } from '@bastide/protocol'

/** A relation (or back-relation, `<collection>_via_<field>`) that `expand` can follow. */
export interface RelationDef {
  readonly collection: string
  readonly multiple: boolean
}

/**
 * One collection in a schema: its record type, what `create` accepts, and the relations `expand` may follow.
 * A generated schema file (`bastide-typegen`, see the README) writes these for every collection.
 */
export interface CollectionDef {
  readonly record: BaseRecord
  readonly create: object
  readonly relations: { readonly [field: string]: RelationDef }
}

/** Collections by name. */
export type Schema = { readonly [collection: string]: CollectionDef }

/**
 * Register your generated schema once, and `client.collection('posts')` is typed everywhere without annotations:
 *
 * @example
 * // bastide-env.d.ts (written by bastide-typegen)
 * declare module '@bastide/sdk' { interface Register { schema: AppSchema } }
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by declaration merging.
export interface Register {}

/** The schema registered through {@link Register}, or an untyped one. */
export type RegisteredSchema = Register extends { schema: infer S extends Schema } ? S : AnySchema

/** What an unregistered client knows: any collection, any fields. */
export type AnySchema = { readonly [collection: string]: UntypedCollection }

export interface UntypedCollection {
  readonly record: BaseRecord & Record<string, unknown>
  readonly create: Record<string, unknown>
  readonly relations: { readonly [field: string]: RelationDef }
}

/** The collection definition for a hand-written record type: `client.collection<Post>('posts')`. */
export interface CollectionOf<R> {
  readonly record: R & BaseRecord
  readonly create: Partial<Omit<R, keyof BaseRecord>> & { id?: string }
  readonly relations: { readonly [field: string]: RelationDef }
}

type Depth = [never, 0, 1, 2]

/** Paths `expand` accepts for a collection: `author`, `comments_via_post`, `author.org` (3 levels at most). */
export type ExpandPath<S extends Schema, C extends CollectionDef, D extends number = 3> = [D] extends [never]
  ? never
  : {
      [K in keyof C['relations'] & string]:
        | K
        | (C['relations'][K]['collection'] extends keyof S
            ? `${K}.${ExpandPath<S, S[C['relations'][K]['collection']], Depth[D]>}`
            : never)
    }[keyof C['relations'] & string]

type Head<P extends string> = P extends `${infer H}.${string}` ? H : P
type Tail<P extends string, H extends string> = P extends `${H}.${infer T}` ? T : never

/**
 * `record.expand` for the given paths. Each key is optional: targets the caller may not view are left out.
 */
export type Expanded<S extends Schema, C extends CollectionDef, P extends string> = {
  [K in Head<P> & keyof C['relations']]?: C['relations'][K]['collection'] extends infer T extends keyof S
    ? C['relations'][K]['multiple'] extends true
      ? WithExpand<S, S[T], Tail<P, K & string>>[]
      : WithExpand<S, S[T], Tail<P, K & string>>
    : never
}

/** A record of `C` with `expand` for paths `P` (none: the plain record). */
export type WithExpand<S extends Schema, C extends CollectionDef, P extends string> = [P] extends [never]
  ? C['record']
  : C['record'] & { readonly expand: Expanded<S, C, P> }

/** A sort key: a field, `-field` for descending. */
export type SortKey<R> = (keyof R & string) | `-${keyof R & string}`

/** A user of the app, as the server returns it. */
export interface User extends BaseRecord {
  readonly email: string
  readonly name: string
  readonly verified: boolean
  readonly image?: string | null
  readonly role?: string
  readonly anonymous?: boolean
  readonly [field: string]: unknown
}

/** What a record subscription delivers. */
export type RecordChange<R> =
  | {
      readonly action: 'create' | 'update' | 'delete'
      readonly record: R
      /** The database-wide sequence number of the write (gap detection). */
      readonly seq: number
    }
  | {
      /** The server could not vouch for a gap (e.g. after a long disconnection): refetch what you show. */
      readonly action: 'resync'
    }
