/**
 * Text made safe inside HTML, in element content and in quoted attributes alike: the five characters that
 * could end either become numeric character references.
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}
