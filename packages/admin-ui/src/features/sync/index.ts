// Offline sync has no page of its own: its panel sits on each collection's page.
export { SyncPanel } from './SyncPanel.tsx'
