import { defineMigration } from '../../../db/define-migration.ts'

export const storage = defineMigration({
  name: 'storage',
  sql: `
      CREATE TABLE bastide.buckets (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        public boolean NOT NULL DEFAULT false,
        max_file_size bigint,
        allowed_mime_types text[] NOT NULL DEFAULT '{}',
        rules jsonb NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now()
      );
      -- One row per visible object; its bytes are the FileStore blob the row names (immutable: an
      -- overwrite writes a new blob and swaps it in). Column names are the rule language's field names.
      -- COLLATE "C": keys sort bytewise, so a prefix is a key range the index serves.
      CREATE TABLE bastide.objects (
        id uuid PRIMARY KEY,
        bucket_id uuid NOT NULL REFERENCES bastide.buckets (id),
        key text COLLATE "C" NOT NULL,
        blob text NOT NULL UNIQUE,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        "mimeType" text NOT NULL,
        owner uuid REFERENCES data.users (id) ON DELETE SET NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now(),
        version integer NOT NULL DEFAULT 1,
        UNIQUE (bucket_id, key)
      );
      CREATE INDEX objects_owner ON bastide.objects (owner);
      -- Transformed images, cached per source object; an overwrite of the source drops them.
      CREATE TABLE bastide.object_variants (
        object_id uuid NOT NULL REFERENCES bastide.objects (id) ON DELETE CASCADE,
        transform text NOT NULL,
        blob text NOT NULL UNIQUE,
        size bigint NOT NULL,
        "mimeType" text NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (object_id, transform)
      );
      -- Blobs no row points at any more, recorded in the transaction that unlinked them and deleted from the
      -- FileStore after commit: a crash in between leaves a row here for the reconciler, never lost bytes
      -- or a dangling object.
      CREATE TABLE bastide.garbage_blobs (
        blob text PRIMARY KEY,
        since timestamptz(3) NOT NULL DEFAULT now()
      );
    `,
})
