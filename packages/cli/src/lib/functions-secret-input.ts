import fs from 'node:fs'
import { CliError, EXIT } from './exit-codes.ts'

/**
 * A secret's value for `bastide functions secrets set`: `--value -` (or no --value, stdin not a terminal) reads
 * stdin whole, one trailing newline dropped; no --value at a terminal asks for it without echoing it. A value on
 * the command line is taken as is (it lands in the shell's history: the other two keep it out).
 */
export async function readSecretValue(given: string | undefined, label: string): Promise<string> {
  let value: string
  if (given !== undefined && given !== '-') value = given
  else if (given === undefined && process.stdin.isTTY) value = await promptHidden(`${label}: `)
  else value = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '')
  if (value === '') throw new CliError('The secret is empty: nothing was set.', EXIT.usage, 'USAGE')
  return value
}

/** Reads a line from the terminal without echoing it (stderr shows the prompt). Ctrl-C cancels. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.resume()
  return new Promise((resolve, reject) => {
    let value = ''
    const finish = () => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish()
          resolve(value)
          return
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish()
          reject(new CliError('Cancelled: nothing was set.', EXIT.failed, 'CANCELLED'))
          return
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    stdin.on('data', onData)
  })
}
