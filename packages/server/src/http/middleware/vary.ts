/**
 * `Vary: Accept-Encoding` on an answer that did not go out through Node's response, set in place once the route
 * has answered (edge.ts; answers sent through Node's response carry it from there). compress() adds it with
 * c.header(), which rebuilds a finished response (see cors.ts); it leaves the header alone when it is already
 * there, so this runs before compress() on the way out.
 */
export function varyAcceptEncodingOn(res: Response): void {
  const vary = res.headers.get('Vary')
  if (!vary) res.headers.set('Vary', 'Accept-Encoding')
  else if (!/accept-encoding/i.test(vary)) res.headers.set('Vary', `${vary}, Accept-Encoding`)
}
