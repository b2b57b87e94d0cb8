/**
 * What an HTTP request hands the core besides its principal: the trace id (from `X-Cloud-Trace-Context` or
 * `traceparent`) that audit events carry, so they join the request's log lines.
 */
export type RequestContext = { trace: string | null };
