/**
 * `elasticore lb`: a leader-aware HTTPS load balancer in front of the
 * masters' APIs. Writes go to the Raft leader, reads to any healthy node;
 * active and passive health checks with fall/rise; safe retries.
 *
 * @module
 */
export {
  buildLbConfig,
  LB_POLICIES,
  type LbConfig,
  type LbFlags,
  type LbPolicy,
  loadLbConfig,
  parseDuration,
  parseLbToml,
} from "./config.ts";
export { BackendPool, type BackendStatus, type PoolName, type Transition } from "./pool.ts";
export { HealthChecker } from "./health.ts";
export { classifyRequest, type RequestKind } from "./http.ts";
export { LbMetrics } from "./metrics.ts";
export {
  type LbStatus,
  type LoadBalancer,
  type LoadBalancerOptions,
  startLoadBalancer,
  startLoadBalancerFromConfig,
} from "./server.ts";
