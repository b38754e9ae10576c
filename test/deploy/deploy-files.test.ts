/**
 * Static checks of the deployment files, since no Docker engine or Kubernetes API runs here:
 * `docker-compose config` validates the compose file (when the binary is installed, as .ci/run
 * does), and the Kubernetes manifests are checked for the structure writ depends on. The config
 * and policy they carry are loaded with writ's own loaders, so a typo fails here, not at boot.
 */
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { ConfigError, loadConfig } from '../../src/config.js'
import { loadPolicy } from '../../src/policy/index.js'

const root = join(import.meta.dirname, '..', '..')
const k8sDir = join(root, 'deploy', 'kubernetes')
const run = promisify(execFile)

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>

function readManifests(): Map<string, Doc[]> {
  const files = new Map<string, Doc[]>()
  for (const name of readdirSync(k8sDir).filter((f) => f.endsWith('.yaml'))) {
    const docs = parseAllDocuments(readFileSync(join(k8sDir, name), 'utf8'))
    for (const doc of docs) if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0]!.message}`)
    files.set(name, docs.map((d) => d.toJS() as Doc).filter((d) => d !== null))
  }
  return files
}

const manifests = readManifests()
const all = [...manifests.entries()].filter(([name]) => name !== 'kustomization.yaml').flatMap(([, docs]) => docs)
const one = (kind: string, name?: string): Doc => {
  const found = all.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name))
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1)
  return found[0]!
}
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v)

/** The apiVersion every kind writ ships must use (the stable, served versions). */
const API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  ServiceAccount: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  Service: 'v1',
  Deployment: 'apps/v1',
  PodDisruptionBudget: 'policy/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
}

describe('Kubernetes manifests', () => {
  const deployment = one('Deployment', 'writ-broker')
  const pod = deployment.spec.template.spec
  const [container] = pod.containers as Doc[]

  it('are known kinds at stable API versions, each named, in the writ namespace', () => {
    expect(all.length).toBeGreaterThanOrEqual(8)
    for (const doc of all) {
      expect(API_VERSIONS[doc.kind], `kind ${doc.kind}`).toBe(doc.apiVersion)
      expect(doc.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      if (doc.kind !== 'Namespace') expect(doc.metadata.namespace).toBe('writ')
    }
  })

  it('are all listed by kustomization.yaml, except the Secret example', () => {
    const [kustomization] = manifests.get('kustomization.yaml')!
    const listed = new Set<string>(kustomization!.resources)
    const files = [...manifests.keys()].filter((f) => f !== 'kustomization.yaml')
    for (const file of files) expect(listed.has(file), file).toBe(file !== 'secret.example.yaml')
    for (const file of listed) expect(manifests.has(file), file).toBe(true)
  })

  it('run three replicas as non-root on a read-only root filesystem with no privileges', () => {
    expect(deployment.spec.replicas).toBe(3)
    expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0)
    expect(pod.automountServiceAccountToken).toBe(false)
    expect(pod.containers).toHaveLength(1)
    expect(container!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    })
    expect(container!.securityContext.privileged).not.toBe(true)
  })

  it('probe liveness on /healthz and readiness on /readyz, on a declared port', () => {
    const ports = new Set((container!.ports as Doc[]).map((p) => p.name))
    expect(container!.livenessProbe.httpGet).toMatchObject({ path: '/healthz' })
    expect(container!.readinessProbe.httpGet).toMatchObject({ path: '/readyz' })
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      expect(ports.has(container![probe].httpGet.port), probe).toBe(true)
    }
  })

  it('set CPU and memory requests and limits, requests within limits', () => {
    const { requests, limits } = container!.resources
    const cpu = (v: string | number) => (String(v).endsWith('m') ? Number.parseFloat(String(v)) / 1000 : Number(v))
    const mib = (v: string) => Number.parseFloat(v) * (v.endsWith('Gi') ? 1024 : 1)
    expect(cpu(requests.cpu)).toBeGreaterThan(0)
    expect(cpu(requests.cpu)).toBeLessThanOrEqual(cpu(limits.cpu))
    expect(mib(requests.memory)).toBeGreaterThan(0)
    expect(mib(requests.memory)).toBeLessThanOrEqual(mib(limits.memory))
  })

  it('take every secret from the writ-secrets Secret, never from a literal or a ConfigMap', () => {
    const secretNames = /KEK|SECRET|PASSWORD|TOKEN/
    for (const env of container!.env as Doc[]) {
      if (!secretNames.test(env.name)) continue
      expect(env.value, env.name).toBeUndefined()
      expect(env.valueFrom.secretKeyRef.name, env.name).toBe('writ-secrets')
    }
    for (const map of all.filter((d) => d.kind === 'ConfigMap')) {
      for (const key of Object.keys(map.data)) expect(secretNames.test(key), key).toBe(false)
    }
    const example = one('Secret', 'writ-secrets')
    const refs = (container!.env as Doc[]).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.key] : []))
    for (const key of refs) expect(Object.keys(example.stringData), key).toContain(key)
  })

  it('mount a policy that loads, and a config that loads with a real KEK', () => {
    const policyMap = one('ConfigMap', 'writ-policy')
    const volume = (pod.volumes as Doc[]).find((v) => v.configMap?.name === 'writ-policy')
    const mount = (container!.volumeMounts as Doc[]).find((m) => m.name === volume?.name)
    const config = one('ConfigMap', 'writ-config').data as Record<string, string>
    expect(mount?.readOnly).toBe(true)
    expect(config.WRIT_POLICY).toBe(`${mount!.mountPath}/policy.yaml`)
    expect(loadPolicy(policyMap.data['policy.yaml']).clients.has('build-agent')).toBe(true)
    const loaded = loadConfig({ ...config, WRIT_KEK: Buffer.alloc(32, 7).toString('base64') }, () => '')
    expect(loaded.store.kind).toBe('redis')
  })

  it('ship Secret placeholders that a broker refuses to boot with', () => {
    const example = one('Secret', 'writ-secrets').stringData as Record<string, string>
    const config = one('ConfigMap', 'writ-config').data as Record<string, string>
    expect(() => loadConfig({ ...config, WRIT_KEK: example.kek })).toThrow(ConfigError)
    expect(() =>
      loadConfig({ ...config, WRIT_KEK: Buffer.alloc(32, 7).toString('base64'), WRIT_ADMIN_TOKEN_HASH: example['admin-token-hash'] }),
    ).toThrow(ConfigError)
  })

  it('keep two replicas through voluntary disruptions', () => {
    const pdb = one('PodDisruptionBudget')
    expect(matches(pdb.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(2)
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas)
  })

  it('restrict ingress to the HTTP port (and metrics from monitoring) and egress to DNS and Redis', () => {
    const policy = one('NetworkPolicy')
    expect(matches(policy.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress'])
    for (const rule of policy.spec.ingress as Doc[]) {
      expect(rule.from?.length, 'every ingress rule names its sources').toBeGreaterThan(0)
      const metrics = rule.ports?.[0]?.port === 'metrics'
      expect(rule.ports).toEqual([{ port: metrics ? 'metrics' : 'http', protocol: 'TCP' }])
      // The metrics port is reached from the monitoring namespaces only.
      if (metrics) expect(rule.from).toEqual([{ namespaceSelector: { matchLabels: { 'writ-monitoring': 'true' } } }])
    }
    const metricsPort = (container!.ports as Doc[]).find((p) => p.name === 'metrics')
    expect(metricsPort?.containerPort).toBe(9464)
    const egressPorts = (policy.spec.egress as Doc[]).flatMap((r) => (r.ports as Doc[]).map((p) => p.port))
    expect(new Set(egressPorts)).toEqual(new Set([53, 6379, 26379]))
  })

  it('expose the broker through a Service that selects its pods', () => {
    const service = one('Service', 'writ-broker')
    expect(matches(service.spec.selector, deployment.spec.template.metadata.labels)).toBe(true)
    const names = new Set((container!.ports as Doc[]).map((p) => p.name))
    for (const port of service.spec.ports as Doc[]) expect(names.has(port.targetPort)).toBe(true)
  })
})

describe('docker-compose.yml and Dockerfile', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as Doc
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')

  it('run writ services as non-root, read-only, without capabilities, with health checks', () => {
    for (const name of ['broker', 'downstream']) {
      const service = compose.services[name]
      expect(service, name).toBeDefined()
      expect(service).toMatchObject({ read_only: true, user: 'node', cap_drop: ['ALL'] })
      expect(service.healthcheck.test.join(' ')).toMatch(/\/(healthz|readyz)/)
    }
    expect(compose.services.redis.command).toContain('--appendonly')
    expect(compose.services.redis.volumes.length).toBeGreaterThan(0)
  })

  it('run Redis with the shipped ACL users: the broker as writ-broker, the downstream service as writ-verifier', () => {
    const redis = compose.services.redis
    expect(redis.command).toEqual(expect.arrayContaining(['--aclfile', '/data/users.acl']))
    expect(redis.entrypoint.join(' ')).toContain('render-users-acl.sh /etc/writ-redis/users.acl /data/users.acl')
    expect(redis.volumes).toContain('./deploy/redis:/etc/writ-redis:ro')
    expect(redis.environment.WRIT_REDIS_BROKER_PASSWORD).toMatch(/^\$\{WRIT_REDIS_BROKER_PASSWORD:\?/)
    expect(redis.environment.WRIT_REDIS_VERIFIER_PASSWORD).toMatch(/^\$\{WRIT_REDIS_VERIFIER_PASSWORD:\?/)
    // Ensure the downstream service never holds the broker's credentials.
    expect(compose.services.broker.environment.REDIS_URL).toMatch(/^redis:\/\/writ-broker:\$\{WRIT_REDIS_BROKER_PASSWORD:\?[^}]*\}@redis:6379$/)
    expect(compose.services.downstream.environment.REDIS_URL).toMatch(/^redis:\/\/writ-verifier:\$\{WRIT_REDIS_VERIFIER_PASSWORD:\?[^}]*\}@redis:6379$/)
    expect(redis.healthcheck.test.join(' ')).toContain('--user writ-verifier')
  })

  it('take secrets from the environment at run time and mount the policy read-only', () => {
    const env = compose.services.broker.environment as Record<string, string>
    expect(env.WRIT_KEK).toMatch(/^\$\{WRIT_KEK:\?/)
    expect(compose.services.broker.volumes).toContain('./examples/policy.yaml:/etc/writ/policy.yaml:ro')
    // Ensure no secret is baked into an image: no ENV or ARG of a secret, no key material copied.
    expect(dockerfile).not.toMatch(/^\s*(ENV|ARG)\b.*(KEK|SECRET|PASSWORD|TOKEN)/im)
    expect(dockerfile).not.toMatch(/^\s*COPY\b.*(\.env|\.pem|\.key|secret)/im)
  })

  it('build the broker as the last stage, as the node user', () => {
    const stages = dockerfile.split(/^FROM /m).slice(1)
    const last = stages[stages.length - 1]!
    expect(last).toMatch(/ AS broker\b/)
    expect(last).toMatch(/^USER node$/m)
    expect(last).toMatch(/^HEALTHCHECK /m)
    for (const target of ['broker', 'downstream']) {
      expect(dockerfile).toMatch(new RegExp(`^FROM \\S+ AS ${target}$`, 'm'))
      expect(compose.services[target === 'broker' ? 'broker' : 'downstream'].build.target).toBe(target)
    }
  })

  const hasCompose = (() => {
    try {
      return readdirSync('/usr/bin').includes('docker-compose')
    } catch {
      return false
    }
  })()

  it.skipIf(!hasCompose && !process.env.CI)('pass `docker-compose config`', async () => {
    const { stderr } = await run('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config', '-q'], {
      env: {
        ...process.env,
        WRIT_KEK: Buffer.alloc(32, 7).toString('base64'),
        WRIT_REDIS_BROKER_PASSWORD: 'b'.repeat(48),
        WRIT_REDIS_VERIFIER_PASSWORD: 'c'.repeat(48),
      },
    })
    expect(stderr).not.toMatch(/ERROR/)
  })

  it.skipIf(!hasCompose && !process.env.CI)('make `docker-compose config` refuse to start without a KEK', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, WRIT_REDIS_BROKER_PASSWORD: 'b'.repeat(48), WRIT_REDIS_VERIFIER_PASSWORD: 'c'.repeat(48) }
    delete env.WRIT_KEK
    await expect(run('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config', '-q'], { env })).rejects.toThrow(
      /WRIT_KEK/,
    )
  })
})
