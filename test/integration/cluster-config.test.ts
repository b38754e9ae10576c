import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createRedisConnection } from '../../src/store/redis-connection.js'

const KEK = Buffer.alloc(32, 1).toString('base64')

/** The problems loadConfig reports for `env`, one string each. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ WRIT_KEK: KEK, ...env }, () => '')
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe('choosing the Redis topology from the environment', () => {
  it('reads cluster nodes and Sentinels as host:port lists, IPv6 included', () => {
    const cluster = loadConfig({ WRIT_KEK: KEK, REDIS_CLUSTER_NODES: 'redis-0:6379, redis-1:6380,[::1]:7000' })
    expect(cluster.store).toMatchObject({
      kind: 'redis',
      clusterNodes: [
        { host: 'redis-0', port: 6379 },
        { host: 'redis-1', port: 6380 },
        { host: '::1', port: 7000 },
      ],
    })
    const sentinel = loadConfig({
      WRIT_KEK: KEK,
      REDIS_SENTINELS: 's0:26379,s1:26379',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_PASSWORD: 'pw',
      REDIS_MIN_REPLICAS_ACKED: '1',
    })
    expect(sentinel.store).toMatchObject({
      kind: 'redis',
      sentinels: [{ host: 's0', port: 26379 }, { host: 's1', port: 26379 }],
      sentinelName: 'mymaster',
      password: 'pw',
      minReplicasAcked: 1,
    })
  })

  it('refuses malformed endpoints, naming the variable’s field', () => {
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-0' }).join('\n')).toMatch(/store\.clusterNodes.*host:port/)
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-0:0' }).join('\n')).toMatch(/store\.clusterNodes/)
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-0:70000' }).join('\n')).toMatch(/store\.clusterNodes/)
    expect(problems({ REDIS_SENTINELS: 'a:1,,b:2', REDIS_SENTINEL_NAME: 'm' }).join('\n')).toMatch(/store\.sentinels/)
  })

  it('refuses Sentinels without a name, two topologies at once, and WAIT on a Cluster', () => {
    expect(problems({ REDIS_SENTINELS: 's0:26379' }).join('\n')).toMatch(/store\.sentinelName: required/)
    expect(problems({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'c:6379' }).join('\n')).toMatch(
      /only one of redisUrl, sentinels and clusterNodes/,
    )
    expect(problems({ REDIS_CLUSTER_NODES: 'c:6379', REDIS_MIN_REPLICAS_ACKED: '1' }).join('\n')).toMatch(
      /store\.minReplicasAcked: not supported on Redis Cluster/,
    )
    expect(problems({ REDIS_URL: 'redis://r:6379', REDIS_MIN_REPLICAS_ACKED: 'one' }).join('\n')).toMatch(
      /store\.minReplicasAcked/,
    )
  })

  it('creates no client for an ambiguous or incomplete topology', () => {
    expect(() => createRedisConnection({}, 1000)).toThrow(TypeError)
    expect(() => createRedisConnection({ url: 'redis://r', clusterNodes: [{ host: 'c', port: 1 }] }, 1000)).toThrow(
      /exactly one/,
    )
    expect(() => createRedisConnection({ sentinels: [{ host: 's', port: 1 }] }, 1000)).toThrow(/sentinelName/)
    expect(() => createRedisConnection({ clusterNodes: [] }, 1000)).toThrow(/at least one/)
  })
})
