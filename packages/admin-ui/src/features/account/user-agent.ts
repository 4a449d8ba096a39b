/**
 * A user agent as people say it: "Chrome on Linux", "Firefox on Windows", "curl". Good enough to tell one's own
 * devices apart; unknown agents come back as they are, cut short.
 */
export function describeUserAgent(ua: string | null | undefined): string {
  if (!ua?.trim()) return 'Unknown device'
  const tool =
    /^(curl|Wget|node|undici|python-requests|Go-http-client|okhttp|PostmanRuntime|Bastide[\w-]*)\b/i.exec(ua)
  if (tool) return tool[1] as string
  const browser = /Edg(e|A|iOS)?\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /Firefox\/|FxiOS\//.test(ua)
        ? 'Firefox'
        : /Chrom(e|ium)\/|CriOS\//.test(ua)
          ? 'Chrome'
          : /Safari\//.test(ua)
            ? 'Safari'
            : null
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /iPhone|iPad|iPod/.test(ua)
      ? 'iOS'
      : /Mac OS X|Macintosh/.test(ua)
        ? 'macOS'
        : /Android/.test(ua)
          ? 'Android'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : null
  if (browser && os) return `${browser} on ${os}`
  if (browser) return browser
  return ua.length > 40 ? `${ua.slice(0, 39)}…` : ua
}
