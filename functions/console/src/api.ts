/**
 * The reviewer API as the console uses it: the contract's endpoints and nothing else. Every field of a
 * ReviewItem that the contract added later (`escalated`, `sampled`, `decision`) is read defensively: a server
 * that does not send it yet is read as false / null.
 */

export const reasonCodes = ['incorrect', 'incomplete', 'unsafe', 'other'] as const;
export type ReasonCode = (typeof reasonCodes)[number];
export const itemStates = ['pending', 'claimed', 'approved', 'edited', 'rejected'] as const;
export type ItemState = (typeof itemStates)[number];

export type Decision = {
  action: 'approve' | 'edit' | 'reject';
  output: unknown;
  reasonCode: string | null;
  note: string | null;
  reviewer: string | null;
  decidedAt: string | null;
};

export type ReviewItem = {
  id: string;
  inferenceId: string;
  task: string;
  input: { text: string };
  output: unknown;
  confidence: number;
  threshold: number;
  provider: string;
  model: string;
  state: ItemState;
  claimedBy: string | null;
  leaseExpiresAt: string | null;
  escalated: boolean;
  sampled: boolean;
  decision: Decision | null;
  createdAt: string;
  dueAt: string;
};

export type Me = { subject: string; tenant: string; roles: string[] };

export type ProviderStatus = {
  name: string;
  state: 'closed' | 'open' | 'half_open';
  errorRate: number;
  requests: number;
  openedAt: string | null;
};

export type AgreementBand = {
  low: number;
  high: number;
  reviewed: number;
  approved: number;
  edited: number;
  rejected: number;
};

export type Overview = {
  generatedAt: string;
  providers: ProviderStatus[];
  queue: {
    undecided: number;
    pending: number;
    claimed: number;
    escalated: number;
    sampled: number;
    oldestCreatedAt: string | null;
    oldestAgeSeconds: number | null;
    byTask: Record<string, number>;
    truncated: boolean;
  };
  agreement: {
    bandWidth: number;
    decisions: number;
    tasks: { task: string; thresholds: number[]; reviewed: number; bands: AgreementBand[] }[];
    truncated: boolean;
  };
};

/** An answer other than 2xx, with the problem document's detail when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly fieldErrors: { path: string; message: string }[] = [],
  ) {
    super(`${status} ${title}: ${detail}`);
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** A ReviewItem as the console uses it, whatever optional fields the server sent. */
export function readItem(raw: unknown): ReviewItem {
  const r = (raw ?? {}) as Record<string, unknown>;
  const d = r.decision && typeof r.decision === 'object' ? (r.decision as Record<string, unknown>) : null;
  const input = (r.input ?? {}) as Record<string, unknown>;
  return {
    id: String(r.id ?? ''),
    inferenceId: String(r.inferenceId ?? ''),
    task: String(r.task ?? ''),
    input: { text: str(input.text) ?? '' },
    output: r.output ?? null,
    confidence: num(r.confidence),
    threshold: num(r.threshold),
    provider: String(r.provider ?? ''),
    model: String(r.model ?? ''),
    state: (itemStates as readonly string[]).includes(String(r.state)) ? (r.state as ItemState) : 'pending',
    claimedBy: str(r.claimedBy),
    leaseExpiresAt: str(r.leaseExpiresAt),
    escalated: r.escalated === true,
    sampled: r.sampled === true,
    decision: d
      ? {
          action: d.action === 'edit' || d.action === 'reject' ? d.action : 'approve',
          output: d.output ?? null,
          reasonCode: str(d.reasonCode),
          note: str(d.note),
          reviewer: str(d.reviewer),
          decidedAt: str(d.decidedAt),
        }
      : null,
    createdAt: String(r.createdAt ?? ''),
    dueAt: String(r.dueAt ?? ''),
  };
}

export type Credentials = { token: string | null };

export class ReviewerApi {
  constructor(private readonly credentials: () => Credentials) {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const { token } = this.credentials();
    // Behind IAP there is no token: the proxy's signed header authenticates every request.
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const p = (json ?? {}) as Record<string, unknown>;
      throw new ApiError(
        res.status,
        str(p.title) ?? res.statusText,
        str(p.detail) ?? 'the request failed',
        Array.isArray(p.errors) ? (p.errors as { path: string; message: string }[]) : [],
      );
    }
    return json;
  }

  async me(): Promise<Me> {
    const m = (await this.call('GET', '/v1/me')) as Record<string, unknown>;
    return {
      subject: String(m.subject ?? ''),
      tenant: String(m.tenant ?? ''),
      roles: Array.isArray(m.roles) ? m.roles.map(String) : [],
    };
  }

  async list(state: ItemState, limit = 200): Promise<ReviewItem[]> {
    const body = (await this.call('GET', `/v1/reviews?state=${state}&limit=${limit}`)) as {
      items?: unknown[];
    };
    return (body.items ?? []).map(readItem);
  }

  async claim(id: string): Promise<ReviewItem> {
    return readItem(await this.call('POST', `/v1/reviews/${encodeURIComponent(id)}/claim`));
  }

  async decide(
    id: string,
    decision: { action: 'approve' | 'edit' | 'reject'; output?: unknown; reasonCode?: string; note?: string },
  ): Promise<ReviewItem> {
    return readItem(await this.call('POST', `/v1/reviews/${encodeURIComponent(id)}/decision`, decision));
  }

  async overview(): Promise<Overview> {
    return (await this.call('GET', '/v1/admin/overview')) as Overview;
  }
}
