// `@bastide/sdk/offline-node`: the offline stores that need Node's file system, kept out of the main entry so
// that browser and React Native bundles never import `node:fs`.
export { type FileStoreOptions, fileStore, removeFileStore } from './offline/file-store.ts'
