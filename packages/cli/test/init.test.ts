import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { findProject, projectEnv } from '../src/lib/project.ts'
import { runCli, tempDir } from './support/run-cli.ts'

describe('bastide init', () => {
  it('creates a project that findProject recognises from any subfolder', async () => {
    const root = path.join(tempDir(), 'shop')
    const run = await runCli(['init', root, '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = run.json()
    expect(result).toMatchObject({ root, config: { name: 'shop', url: 'http://localhost:8787' } })
    expect(result.created).toEqual(
      expect.arrayContaining([
        'bastide/config.json',
        'bastide/schema/',
        'bastide/migrations/',
        '.env.example',
      ]),
    )
    expect(JSON.parse(fs.readFileSync(path.join(root, 'bastide/config.json'), 'utf8'))).toEqual({
      name: 'shop',
      url: 'http://localhost:8787',
    })
    expect(fs.readdirSync(path.join(root, 'bastide')).sort()).toEqual(['config.json', 'migrations', 'schema'])
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n')).toEqual(
      expect.arrayContaining(['.bastide/', '.env']),
    )
    expect(fs.readFileSync(path.join(root, '.env.example'), 'utf8')).toContain('# DATABASE_URL=')
    expect(fs.existsSync(path.join(root, 'README.md'))).toBe(true)
    // No functions folder: functions come later.
    expect(fs.existsSync(path.join(root, 'bastide/functions'))).toBe(false)

    const deep = path.join(root, 'src', 'lib')
    fs.mkdirSync(deep, { recursive: true })
    expect(findProject(deep)).toEqual({
      root,
      dir: path.join(root, 'bastide'),
      config: { name: 'shop', url: 'http://localhost:8787' },
    })
    expect(findProject(path.dirname(root))).toBeUndefined()
  })

  it('refuses a folder whose bastide/ is not empty unless --force, keeping its own files', async () => {
    const root = tempDir()
    fs.writeFileSync(path.join(root, '.gitignore'), 'node_modules/\n.env')
    fs.writeFileSync(path.join(root, 'README.md'), '# mine\n')
    expect((await runCli(['init', '--name', 'first'], { cwd: root })).code).toBe(0)
    // Appended once, after the user's lines, never duplicated.
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8')).toBe('node_modules/\n.env\n.bastide/\n')
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toBe('# mine\n')

    const again = await runCli(['init', '--name', 'second', '--json'], { cwd: root })
    expect(again.code).toBe(1)
    expect(again.json().error.code).toBe('PROJECT_EXISTS')
    expect(findProject(root)?.config.name).toBe('first')

    const forced = await runCli(['init', '--name', 'second', '--force'], { cwd: root })
    expect(forced.code, forced.stderr).toBe(0)
    expect(findProject(root)?.config.name).toBe('second')
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8')).toBe('node_modules/\n.env\n.bastide/\n')
  })

  it("takes the dev server's URL from --url, and exits 2 on a bad one", async () => {
    const run = await runCli(['init', tempDir(), '--url', 'ftp://example.com'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('--url')
    const root = tempDir()
    expect((await runCli(['init', root, '--url', 'http://localhost:9000'])).code).toBe(0)
    expect(findProject(root)?.config.url).toBe('http://localhost:9000')
  })

  it("gives the server the project's data folder and .env, never over the real environment", async () => {
    const root = tempDir()
    expect((await runCli(['init'], { cwd: root })).code).toBe(0)
    const project = findProject(root)
    expect(projectEnv(project, {}).BASTIDE_DATA_DIR).toBe(path.join(root, '.bastide'))
    fs.writeFileSync(
      path.join(root, '.env'),
      '# dev\nBASTIDE_LOG_LEVEL=debug\nPORT=9999\nBASTIDE_DATA_DIR=var/data\n',
    )
    const env = projectEnv(project, { PORT: '1234' })
    expect(env).toMatchObject({
      PORT: '1234',
      BASTIDE_LOG_LEVEL: 'debug',
      BASTIDE_DATA_DIR: path.join(root, 'var/data'),
    })
    expect(projectEnv(project, { BASTIDE_DATA_DIR: '/srv/x' }).BASTIDE_DATA_DIR).toBe('/srv/x')
    // Outside a project: the environment as it is.
    expect(projectEnv(undefined, { PORT: '1' })).toEqual({ PORT: '1' })
  })
})
