/**
 * The deployment files, checked offline (there is no Docker engine or cluster in CI):
 * - docker/compose.yml and compose.scale.yml through Debian's `docker-compose config`: the services an operator
 *   relies on, what is exposed, health checks and start order, refusal without secrets;
 * - docker/Caddyfile through Debian's `caddy adapt --validate`;
 * - docker/Dockerfile parsed (dockerfile-ast) and linted (dockerfile-utils), and its HEALTHCHECK command run
 *   against a real server;
 * - docker/kubernetes/ against the Kubernetes OpenAPI schemas (kubernetes-models), and wired together.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DockerfileParser } from 'dockerfile-ast'
import { validate as lintDockerfile } from 'dockerfile-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import {
  composeConfig,
  composeConfigRaw,
  DOCKER_DIR,
  documentedVariables,
  KUBERNETES_DIR,
  loadManifests,
  mounts,
  referencedVariables,
  runTool,
  schemaProblems,
} from './support/deploy-files.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

const read = (file: string) => fs.readFileSync(path.join(DOCKER_DIR, file), 'utf8')

/** What an operator writes into docker/.env: every required value, none of them real. */
const ENV = {
  BASTIDE_DOMAIN: 'bastide.example.test',
  ACME_EMAIL: 'ops@example.test',
  BASTIDE_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
  POSTGRES_PASSWORD: 'pgpassword0123456789',
  MINIO_ROOT_PASSWORD: 'minioroot0123456789',
  BASTIDE_S3_ACCESS_KEY: 'bastide-app',
  BASTIDE_S3_SECRET_KEY: 's3secret0123456789',
}

let tmp: string
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-deploy-config-'))
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

describe('docker/compose.yml', () => {
  it('runs Bastide with PostgreSQL 17, Redis 7, MinIO and Caddy; only Caddy is reachable from outside', () => {
    const c = composeConfig(['compose.yml'], ENV, tmp)
    // docker-compose 1 prints services of every profile; Compose 2 only those that would start.
    const started = Object.entries(c.services)
      .filter(([, s]: [string, any]) => !s.profiles?.length)
      .map(([name]) => name)
    expect(started.sort()).toEqual(['bastide', 'caddy', 'minio', 'minio-init', 'postgres', 'redis'])
    expect(c.services.postgres.image).toMatch(/^postgres:17(\b|-)/)
    expect(c.services.redis.image).toMatch(/^redis:7(\.|-|$)/)
    expect(c.services.minio.image).toMatch(/minio\/minio:RELEASE\./)
    expect(c.services.caddy.image).toMatch(/^caddy:2\./)
    const published = Object.entries(c.services)
      .filter(([name, s]: [string, any]) => started.includes(name) && (s.ports ?? []).length > 0)
      .map(([name]) => name)
    expect(published).toEqual(['caddy'])
    expect(c.services.caddy.ports.map((p: any) => String(p.target ?? p).replace(/^.*:/, ''))).toEqual(
      expect.arrayContaining(['80', '443']),
    )
  })

  it('wires Bastide to the other services, behind the proxy, with the public URL from the domain', () => {
    const env = composeConfig(['compose.yml'], ENV, tmp).services.bastide.environment
    expect(env).toMatchObject({
      DATABASE_URL: `postgres://bastide:${ENV.POSTGRES_PASSWORD}@postgres:5432/bastide`,
      REDIS_URL: 'redis://redis:6379',
      BASTIDE_S3_ENDPOINT: 'http://minio:9000',
      BASTIDE_S3_ACCESS_KEY: ENV.BASTIDE_S3_ACCESS_KEY,
      BASTIDE_SECRET: ENV.BASTIDE_SECRET,
      BASTIDE_PUBLIC_URL: `https://${ENV.BASTIDE_DOMAIN}`,
      BASTIDE_TRUST_PROXY: 'true',
    })
    // Least privilege: MinIO's root credentials go to MinIO and the one-shot bucket job, never to Bastide.
    expect(Object.values(env)).not.toContain(ENV.MINIO_ROOT_PASSWORD)
  })

  it('starts each service once what it needs is healthy, and checks health itself', () => {
    const s = composeConfig(['compose.yml'], ENV, tmp).services
    expect(s.bastide.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      'minio-init': { condition: 'service_completed_successfully' },
    })
    expect(s['minio-init'].depends_on).toEqual({ minio: { condition: 'service_healthy' } })
    expect(s.caddy.depends_on).toEqual({ bastide: { condition: 'service_healthy' } })
    for (const name of ['bastide', 'postgres', 'redis', 'minio', 'caddy'])
      expect(s[name].healthcheck?.test, `${name} has a health check`).toBeDefined()
    expect(s.bastide.healthcheck.test.join(' ')).toContain('/api/health/ready')
    // Longer than the server's own drain (BASTIDE_SHUTDOWN_TIMEOUT_MS, 10 s by default).
    expect(s.bastide.stop_grace_period).toMatch(/^[3-9]\ds$/)
  })

  it('creates the bucket and a user confined to it, idempotently', () => {
    const init = composeConfig(['compose.yml'], ENV, tmp).services['minio-init']
    const script = init.entrypoint.join('\n')
    expect(script).toContain('mc mb --ignore-existing')
    expect(script).toContain('arn:aws:s3:::%s/*')
    expect(script).toContain('mc admin policy attach local bastide-bucket --user')
    expect(init.restart).toBe('no')
  })

  it('keeps backups in a bucket of their own that Bastide’s user may write, never the storage bucket', () => {
    const c = composeConfig(['compose.yml'], ENV, tmp)
    const init = c.services['minio-init']
    const script = init.entrypoint.join('\n')
    expect(init.environment.BACKUP_BUCKET).toBe('bastide-backups')
    expect(init.environment.BACKUP_BUCKET).not.toBe(init.environment.BUCKET)
    // `$$` as docker-compose config prints it: the container's shell expands it.
    expect(script).toContain('mc mb --ignore-existing "local/$$BACKUP_BUCKET"')
    // The one policy the user has covers both buckets and their objects.
    expect(script).toContain('"$$BUCKET" "$$BUCKET" "$$BACKUP_BUCKET" "$$BACKUP_BUCKET"')
    // The backup settings reach the server when set in docker/.env.
    const withBackups = composeConfig(
      ['compose.yml'],
      {
        ...ENV,
        BASTIDE_BACKUP_CRON: '0 3 * * *',
        BASTIDE_BACKUP_TARGET: 's3://bastide-backups/',
        BASTIDE_BACKUP_KEEP: '14',
        BASTIDE_BACKUP_S3_ENDPOINT: 'https://s3.example.test',
        BASTIDE_BACKUP_S3_REGION: 'eu-west-3',
        BASTIDE_BACKUP_S3_ACCESS_KEY: 'backup-ak',
        BASTIDE_BACKUP_S3_SECRET_KEY: 'backup-sk',
      },
      tmp,
    ).services.bastide.environment
    expect(withBackups).toMatchObject({
      BASTIDE_BACKUP_CRON: '0 3 * * *',
      BASTIDE_BACKUP_TARGET: 's3://bastide-backups/',
      BASTIDE_BACKUP_KEEP: '14',
      BASTIDE_BACKUP_S3_ENDPOINT: 'https://s3.example.test',
      BASTIDE_BACKUP_S3_REGION: 'eu-west-3',
      BASTIDE_BACKUP_S3_ACCESS_KEY: 'backup-ak',
      BASTIDE_BACKUP_S3_SECRET_KEY: 'backup-sk',
    })
  })

  it('refuses to start without BASTIDE_SECRET (or any other required secret), naming it', () => {
    for (const missing of [
      'BASTIDE_SECRET',
      'POSTGRES_PASSWORD',
      'MINIO_ROOT_PASSWORD',
      'BASTIDE_S3_SECRET_KEY',
    ]) {
      const r = composeConfigRaw(['compose.yml'], { ...ENV, [missing]: '' }, tmp)
      expect(r.status, missing).not.toBe(0)
      expect(r.stderr).toContain(`set ${missing} in docker/.env`)
    }
  })

  it('.env.example documents every variable the compose files and the Caddyfile read, and is refused as is', () => {
    const example = read('.env.example')
    const documented = documentedVariables(example)
    const used = new Set(
      ['compose.yml', 'compose.scale.yml', 'Caddyfile'].flatMap((f) => [...referencedVariables(read(f))]),
    )
    expect([...used].filter((v) => !documented.has(v))).toEqual([])
    // Its secrets are empty: copied without editing, nothing starts with a secret everybody knows.
    const values = Object.fromEntries(
      example
        .split('\n')
        .filter((l) => /^[A-Z0-9_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    )
    for (const secret of [
      'BASTIDE_SECRET',
      'POSTGRES_PASSWORD',
      'MINIO_ROOT_PASSWORD',
      'BASTIDE_S3_SECRET_KEY',
    ])
      expect(values[secret], secret).toBe('')
    expect(composeConfigRaw(['compose.yml'], values, tmp).status).not.toBe(0)
    // The variables the backup and metrics modules read are there, commented.
    expect(example).toContain('# BASTIDE_BACKUP_CRON="0 3 * * *"')
    expect(example).toContain('# BASTIDE_BACKUP_TARGET=s3://bastide-backups/')
    expect(example).toMatch(/^# BASTIDE_REQUEST_LOG_RETENTION_HOURS=/m)
    expect(values.GRAFANA_ADMIN_PASSWORD).toBe('')
  })
})

describe('docker/compose.yml, observability profile', () => {
  const OBSERVED = { ...ENV, GRAFANA_ADMIN_PASSWORD: 'grafana-password-0123456789' }
  const yamlOf = (file: string) => parse(read(file))

  it('adds Prometheus and Grafana, pinned, only under the profile', () => {
    const c = composeConfig(['compose.yml'], OBSERVED, tmp, ['observability'])
    for (const name of ['prometheus', 'grafana']) {
      expect(c.services[name].profiles, name).toEqual(['observability'])
      expect(c.services[name].healthcheck?.test, `${name} has a health check`).toBeDefined()
    }
    expect(c.services.prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/)
    expect(c.services.grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/)
    // Nothing of the default stack depends on them: `up` without the profile starts what it always did.
    for (const [name, s] of Object.entries(c.services) as [string, any][])
      if (!s.profiles?.length) expect(Object.keys(s.depends_on ?? {}), name).not.toContain('prometheus')
  })

  it('publishes Grafana on the host’s loopback only, and Prometheus not at all', () => {
    const s = composeConfig(['compose.yml'], OBSERVED, tmp, ['observability']).services
    expect(s.prometheus.ports).toBeUndefined()
    const ports = s.grafana.ports.map((p: any) =>
      typeof p === 'string' ? p : `${p.host_ip}:${p.published}:${p.target}/${p.protocol ?? 'tcp'}`,
    )
    expect(ports).toEqual(['127.0.0.1:3000:3000/tcp'])
    const custom = composeConfig(['compose.yml'], { ...OBSERVED, GRAFANA_PORT: '3300' }, tmp, [
      'observability',
    ]).services.grafana.ports.map((p: any) => (typeof p === 'string' ? p : `${p.host_ip}:${p.published}`))
    expect(custom[0]).toMatch(/^127\.0\.0\.1:3300/)
  })

  it('Grafana refuses to start without an admin password rather than fall back to admin/admin', () => {
    const g = composeConfig(['compose.yml'], ENV, tmp, ['observability']).services.grafana
    expect(g.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('')
    const script = g.entrypoint.join('\n')
    expect(script).toMatch(/-z "\$+GF_SECURITY_ADMIN_PASSWORD"/)
    expect(script).toContain('set GRAFANA_ADMIN_PASSWORD in docker/.env')
    expect(script).toContain('exec /run.sh')
    const set = composeConfig(['compose.yml'], OBSERVED, tmp, ['observability']).services.grafana
    expect(set.environment).toMatchObject({
      GF_SECURITY_ADMIN_PASSWORD: OBSERVED.GRAFANA_ADMIN_PASSWORD,
      GF_USERS_ALLOW_SIGN_UP: 'false',
      GF_AUTH_ANONYMOUS_ENABLED: 'false',
    })
  })

  it('Prometheus scrapes every Bastide node’s metrics port through Docker’s DNS', () => {
    const c = composeConfig(['compose.yml'], OBSERVED, tmp, ['observability'])
    const env = c.services.bastide.environment
    // The metrics port is on the compose network (not loopback), and never published.
    expect(env.BASTIDE_METRICS_HOST).toBe('0.0.0.0')
    expect(c.services.bastide.ports).toBeUndefined()
    const config = mounts(c.services.prometheus).find((m) => m.target === '/etc/prometheus/prometheus.yml')
    expect(config?.source).toBe(path.join(DOCKER_DIR, 'prometheus/prometheus.yml'))
    expect(c.services.prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml')
    const prom = yamlOf('prometheus/prometheus.yml')
    const job = prom.scrape_configs.find((j: any) => j.job_name === 'bastide')
    expect(job.metrics_path ?? '/metrics').toBe('/metrics')
    // DNS service discovery, not a static target: one address per replica, followed as they come and go.
    expect(job.static_configs).toBeUndefined()
    expect(job.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['bastide'], type: 'A', port: Number(env.BASTIDE_METRICS_PORT) }),
    ])
    // With several nodes, still valid, still nothing but Caddy and Grafana published.
    const scaled = composeConfig(
      ['compose.yml', 'compose.scale.yml'],
      { ...OBSERVED, BASTIDE_REPLICAS: '3' },
      tmp,
      ['observability'],
    )
    const published = Object.entries(scaled.services)
      .filter(([, s]: [string, any]) => (s.ports ?? []).length > 0)
      .map(([name]) => name)
      .sort()
    expect(published).toEqual(['caddy', 'grafana'])
  })

  it('Grafana is provisioned with that Prometheus and the Bastide dashboard', () => {
    const g = composeConfig(['compose.yml'], OBSERVED, tmp, ['observability']).services.grafana
    const m = mounts(g)
    expect(m).toContainEqual({
      source: path.join(DOCKER_DIR, 'grafana/provisioning'),
      target: '/etc/grafana/provisioning',
    })
    const datasource = yamlOf('grafana/provisioning/datasources/prometheus.yml').datasources
    expect(datasource).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }),
    ])
    const [provider] = yamlOf('grafana/provisioning/dashboards/bastide.yml').providers
    expect(provider.type).toBe('file')
    const dashboard = m.find((x) => x.source === path.join(DOCKER_DIR, 'grafana/bastide-dashboard.json'))
    expect(dashboard).toBeDefined()
    expect(path.posix.dirname(dashboard!.target)).toBe(provider.options.path)
    const json = JSON.parse(read('grafana/bastide-dashboard.json'))
    expect(json.uid).toBe('bastide-overview')
    // Its data source variable picks the provisioned default; no import-time inputs left to fill.
    expect(json.__inputs).toBeUndefined()
  })
})

describe('docker/compose.scale.yml', () => {
  it('runs N interchangeable Bastide nodes with enough PostgreSQL connections for their pools', () => {
    const c = composeConfig(['compose.yml', 'compose.scale.yml'], { ...ENV, BASTIDE_REPLICAS: '4' }, tmp)
    const b = c.services.bastide
    expect(b.deploy.replicas).toBe(4)
    // Nothing that would make two replicas collide or differ.
    expect(b.container_name).toBeUndefined()
    expect(b.ports).toBeUndefined()
    expect(b.environment.BASTIDE_SECRET).toBe(ENV.BASTIDE_SECRET)
    expect(b.environment.REDIS_URL).toBe('redis://redis:6379')
    const maxConnections = Number(/max_connections=(\d+)/.exec(c.services.postgres.command.join(' '))![1])
    expect(maxConnections).toBeGreaterThan(4 * Number(b.environment.BASTIDE_DB_POOL_MAX))
  })
})

describe('docker/Caddyfile', () => {
  it('is valid, proxies to every bastide node, and keeps each client on one node', () => {
    const r = runTool('caddy', ['adapt', '--config', 'Caddyfile', '--adapter', 'caddyfile', '--validate'], {
      BASTIDE_DOMAIN: ENV.BASTIDE_DOMAIN,
      ACME_EMAIL: ENV.ACME_EMAIL,
    })
    expect(r.status, r.stderr).toBe(0)
    const json = JSON.stringify(JSON.parse(r.stdout))
    expect(json).toContain(`"host":["${ENV.BASTIDE_DOMAIN}"]`)
    expect(json).toContain('"dynamic_upstreams":{"name":"bastide","port":"8787"')
    expect(json).toMatch(/"selection_policy":\{"policy":"(client_)?ip_hash"\}/)
    // Automatic HTTPS with the operator's address for the ACME account.
    expect(json).toContain(`"email":"${ENV.ACME_EMAIL}"`)
  })
})

describe('docker/Dockerfile', () => {
  const text = read('Dockerfile')
  const df = DockerfileParser.parse(text)
  const instructions = df.getInstructions()
  const froms = df.getFROMs()
  const finalStage = instructions.slice(instructions.indexOf(froms.at(-1)!))
  const args = Object.fromEntries(
    df.getARGs().map((a) => [a.getProperty()?.getName(), a.getProperty()?.getValue()]),
  )
  const resolve = (s: string) => s.replace(/\$\{?([A-Z_]+)\}?/g, (_, n) => args[n] ?? '')

  it('lints clean', () => {
    expect(lintDockerfile(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([])
  })

  it('builds in one stage and runs from a pinned Node 24 slim image in another', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2)
    for (const f of froms)
      expect(resolve(f.getImage() ?? '')).toMatch(/^node:24\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/)
    const runs = instructions
      .filter((i) => i.getKeyword() === 'RUN')
      .map((i) => i.getArgumentsContent() ?? '')
    expect(runs.join('\n')).toContain('pnpm install --frozen-lockfile')
    expect(runs.join('\n')).toContain('node packages/server/scripts/build.mjs')
    expect(runs.join('\n')).toContain('node packages/admin-ui/scripts/build.mjs')
    expect(runs.join('\n')).toMatch(/deploy --prod/)
  })

  it('runs as a non-root user, with a health check on readiness and the data volume', () => {
    const last = (k: string) =>
      finalStage
        .filter((i) => i.getKeyword() === k)
        .at(-1)
        ?.getArgumentsContent()
    expect(last('USER')).toMatch(/^(node|[1-9]\d*)(:.*)?$/)
    expect(last('HEALTHCHECK')).toContain('/api/health/ready')
    expect(last('EXPOSE')).toBe('8787')
    expect(last('VOLUME')).toContain('/var/lib/bastide')
    expect(text).toMatch(/BASTIDE_DATA_DIR=\/var\/lib\/bastide/)
    // The built server, not a build at start.
    expect(last('CMD')).toBe('["node", "dist/main.js"]')
    // The console where the server looks for it (../../../../admin-ui/dist/ from dist/modules/console-app/).
    expect(text).toContain('/out/packages/admin-ui/dist')
  })

  it('fetches nothing from URLs into the image (no ADD, no curl | sh)', () => {
    expect(instructions.filter((i) => i.getKeyword() === 'ADD')).toEqual([])
    const runs = instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent())
    expect(runs.join('\n')).not.toMatch(/\b(curl|wget)\b|https?:\/\//)
  })

  it('keeps dependencies, builds, secrets and git out of the build context', () => {
    const ignore = read('Dockerfile.dockerignore').split('\n')
    for (const line of ['**/node_modules', '**/dist', '**/.env', '.git', '**/.bastide'])
      expect(ignore, line).toContain(line)
  })

  describe('its HEALTHCHECK command', () => {
    let s: TestServer | undefined
    afterAll(async () => {
      await s?.close()
    })
    // The exec form's arguments, run as Docker would: exit 0 means healthy. Asynchronously: the server under
    // test lives in this process and must go on answering meanwhile.
    const probe = (port: number) =>
      new Promise<number | null>((resolve) => {
        const cmd = JSON.parse(/CMD (\[.*\])\s*$/m.exec(text)![1]!) as string[]
        const child = execFile(process.execPath, cmd.slice(1), {
          env: { PORT: String(port) },
          timeout: 20_000,
        })
        child.on('exit', (code) => resolve(code))
      })

    it('passes against a ready server and fails when nothing answers', async () => {
      s = await startTestServer({ listen: true })
      expect(await probe(s.bastide.port)).toBe(0)
      const port = s.bastide.port
      await s.close()
      s = undefined
      expect(await probe(port)).toBe(1)
    })
  })
})

describe('docker/kubernetes', () => {
  const manifests = loadManifests()
  const of = (kind: string) => manifests.filter((m) => m.object.kind === kind).map((m) => m.object)
  const kustomization = parse(fs.readFileSync(path.join(KUBERNETES_DIR, 'kustomization.yaml'), 'utf8'))

  it('every manifest is valid against the Kubernetes schema of its kind', async () => {
    expect(manifests.length).toBeGreaterThanOrEqual(7)
    const problems: string[] = []
    for (const m of manifests)
      for (const p of await schemaProblems(m.object)) problems.push(`${m.file} (${m.object.kind}): ${p}`)
    expect(problems).toEqual([])
  })

  it('the kustomization lists every resource file but the example Secret', () => {
    const files = fs
      .readdirSync(KUBERNETES_DIR)
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    expect([...kustomization.resources].sort()).toEqual(
      files.filter((f) => f !== 'secret.example.yaml').sort(),
    )
  })

  it('the Deployment probes readiness and liveness separately, as a locked-down non-root pod', () => {
    const [d] = of('Deployment')
    const pod = d.spec.template.spec
    const [c] = pod.containers
    expect(c.readinessProbe.httpGet.path).toBe('/api/health/ready')
    expect(c.livenessProbe.httpGet.path).toBe('/api/health/live')
    expect(c.startupProbe.httpGet.path).toBe('/api/health/live')
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 })
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    })
    // Writable where the server writes: its data directory and the temporary files of uploads.
    expect(c.volumeMounts.map((v: any) => v.mountPath).sort()).toEqual(['/tmp', '/var/lib/bastide'])
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) })
    expect(d.spec.strategy.rollingUpdate.maxUnavailable).toBe(0)
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'bastide' } }, { secretRef: { name: 'bastide' } }])
    // Grace covers the preStop pause and the server's own drain.
    const drainMs = Number(of('ConfigMap')[0].data.BASTIDE_SHUTDOWN_TIMEOUT_MS)
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(drainMs + 5000)
  })

  it('Service, Ingress, HPA and PodDisruptionBudget all point at the Deployment and its pods', () => {
    const [d] = of('Deployment')
    const podLabels = d.spec.template.metadata.labels
    const matches = (selector: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => podLabels[k] === v)
    const svc = of('Service').find((x) => x.metadata.name === 'bastide')
    expect(matches(svc.spec.selector)).toBe(true)
    expect(svc.spec.ports[0].targetPort).toBe(d.spec.template.spec.containers[0].ports[0].name)
    expect(matches(of('PodDisruptionBudget')[0].spec.selector.matchLabels)).toBe(true)
    expect(matches(d.spec.selector.matchLabels)).toBe(true)
    const [hpa] = of('HorizontalPodAutoscaler')
    expect(hpa.apiVersion).toBe('autoscaling/v2')
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: d.metadata.name,
    })
    const [ing] = of('Ingress')
    const backend = ing.spec.rules[0].http.paths[0].backend.service
    expect(backend).toEqual({ name: svc.metadata.name, port: { name: svc.spec.ports[0].name } })
    // WebSockets and long polls outlive the default 60 s; each client stays on one pod.
    expect(
      Number(ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']),
    ).toBeGreaterThan(60)
    expect(ing.metadata.annotations['nginx.ingress.kubernetes.io/upstream-hash-by']).toBeTruthy()
  })

  it('exposes each pod’s metrics port to Prometheus, and only through a headless Service', () => {
    const [d] = of('Deployment')
    const [c] = d.spec.template.spec.containers
    const config = of('ConfigMap')[0].data
    const port = Number(config.BASTIDE_METRICS_PORT)
    expect(port).toBe(9464)
    // The scraper is another pod: the listener must not stay on loopback.
    expect(config.BASTIDE_METRICS_HOST).toBe('0.0.0.0')
    expect(c.ports).toContainEqual({ name: 'metrics', containerPort: port, protocol: 'TCP' })
    expect(d.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(port),
      'prometheus.io/path': '/metrics',
    })
    const metrics = of('Service').find((x) => x.metadata.name === 'bastide-metrics')
    // Headless: one endpoint per pod, never one pod at random per scrape.
    expect(metrics.spec.clusterIP).toBe('None')
    expect(metrics.spec.ports).toEqual([{ name: 'metrics', port, targetPort: 'metrics', protocol: 'TCP' }])
    const podLabels = d.spec.template.metadata.labels
    expect(Object.entries(metrics.spec.selector).every(([k, v]) => podLabels[k] === v)).toBe(true)
    // The public Service and the Ingress carry the API only.
    const api = of('Service').find((x) => x.metadata.name === 'bastide')
    expect(api.spec.ports.map((p: any) => p.targetPort)).toEqual(['http'])
  })

  it('the example Secret holds every secret the server needs, and placeholders the server refuses', () => {
    const [secret] = of('Secret')
    expect(Object.keys(secret.stringData)).toEqual(
      expect.arrayContaining([
        'DATABASE_URL',
        'REDIS_URL',
        'BASTIDE_SECRET',
        'BASTIDE_S3_ACCESS_KEY',
        'BASTIDE_S3_SECRET_KEY',
      ]),
    )
    // Shorter than the 32 characters loadConfig requires.
    expect(secret.stringData.BASTIDE_SECRET.length).toBeLessThan(32)
  })
})
