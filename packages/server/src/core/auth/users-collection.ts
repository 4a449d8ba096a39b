import type { Collection, Field } from '../collections/types.ts'

/** The built-in collection of app users; its table (data.users) is created by the `auth` migration. */
export const USERS = 'users'

const field = (
  id: string,
  name: string,
  type: Field['type'],
  extra: Partial<Pick<Field, 'required' | 'unique' | 'hidden' | 'system'>> = {},
): Field => ({
  id,
  name,
  type,
  required: false,
  unique: false,
  hidden: false,
  options: {},
  ...extra,
})

/**
 * `system` fields are managed by auth (sign-up, verification, the console): they cannot be renamed,
 * dropped or retyped, and the records API never writes them. `name`, `image` and `locale` are the user's
 * own profile, writable under the update rule like any field added to the collection later.
 */
export const USERS_FIELDS: readonly Field[] = [
  field('usersemail', 'email', 'email', { required: true, unique: true, system: true }),
  field('usersname0', 'name', 'text'),
  field('usersverif', 'verified', 'bool', { system: true }),
  field('usersimage', 'image', 'text'),
  field('usersrole0', 'role', 'text', { system: true }),
  field('usersanony', 'anonymous', 'bool', { system: true }),
  field('usersphone', 'phone', 'text', { unique: true, system: true }),
  field('usersphver', 'phoneVerified', 'bool', { system: true }),
  field('users2fa00', 'twoFactorEnabled', 'bool', { system: true }),
  field('userslocal', 'locale', 'text'),
  field('usersban00', 'banned', 'bool', { hidden: true, system: true }),
  field('usersbanrs', 'banReason', 'text', { hidden: true, system: true }),
  field('usersbanex', 'banExpires', 'date', { hidden: true, system: true }),
]

/** By default a user reads and edits only their own record; accounts are created and deleted through auth. */
export const USERS_RULES: Collection['rules'] = {
  list: 'id = @request.auth.id',
  view: 'id = @request.auth.id',
  create: null,
  update: 'id = @request.auth.id',
  delete: null,
}

export function usersCollectionRow() {
  return {
    id: '00000000-0000-7000-8000-000000000001',
    name: USERS,
    fields: JSON.stringify(USERS_FIELDS),
    indexes: JSON.stringify([]),
    rules: JSON.stringify(USERS_RULES),
    system: true,
  }
}
