import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { renderScored } from './scoredJson.js';
import { isTaskName, tasks } from './tasks/index.js';
import { countTokens, type TokenLogprob, tokenLogprob } from './tokens.js';

/**
 * The OpenAI chat-completions exchange, minus HTTP: a request body in, a `chat.completion` object out, or a
 * reason the request is invalid. Fields the server does not act on are accepted and ignored, as OpenAI-
 * compatible servers do, so that a newer SDK sending extra fields still works.
 */

const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});

const requestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(message).min(1),
  logprobs: z.boolean().nullish(),
  // One deterministic choice is all there is to give; streaming is not implemented.
  n: z.literal(1).nullish(),
  stream: z.literal(false).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  // Accepted but not enforced: answers are short and always complete (`finish_reason: "stop"`).
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  // Every answer is a JSON object, which satisfies both `json_object` and `json_schema` requests.
  response_format: z.looseObject({ type: z.string() }).nullish(),
});
type ChatRequest = z.infer<typeof requestSchema>;

export type ChatCompletion = {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string };
      logprobs: { content: TokenLogprob[] } | null;
      finish_reason: 'stop';
    },
  ];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
};

export type CompletionOutcome = { ok: true; completion: ChatCompletion } | { ok: false; message: string };

const messageText = (content: ChatRequest['messages'][number]['content']): string =>
  typeof content === 'string' ? content : (content ?? []).map((part) => part.text ?? '').join('');

/** What makes each answer its own: a new id, the time it was made (the first keys of a completion). */
export function completionIdentity(): { id: string; object: 'chat.completion'; created: number } {
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
  };
}

/** `task: <name>` on the first line of the first system (or developer) message. */
const taskLine = /^\s*task\s*:\s*(\S+)\s*$/i;

/**
 * Answers one request body (already JSON-parsed). `confidence`, when not null, pins every token's
 * probability (see behaviour.ts); otherwise each task scores its own output (see scoredJson.ts).
 */
export function completeChat(body: unknown, confidence: number | null): CompletionOutcome {
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    return { ok: false, message: `Invalid request: ${problems.join('; ')}` };
  }
  const request = parsed.data;

  const instructions = request.messages.find((m) => m.role === 'system' || m.role === 'developer');
  const firstLine = messageText(instructions?.content).split('\n', 1)[0] ?? '';
  const task = taskLine.exec(firstLine)?.[1];
  if (!task)
    return { ok: false, message: 'The first line of the system message must be "task: <task-name>".' };
  if (!isTaskName(task)) {
    const known = Object.keys(tasks).join(', ');
    return { ok: false, message: `Unknown task "${task.slice(0, 64)}"; known tasks: ${known}.` };
  }
  // The note is the latest user turn, as in a chat transcript.
  const note = request.messages.findLast((m) => m.role === 'user');
  if (!note) return { ok: false, message: 'The request has no user message holding the clinical note.' };

  const { content, tokens } = renderScored(tasks[task](messageText(note.content)));
  const promptTokens = request.messages.reduce((sum, m) => sum + countTokens(messageText(m.content)), 0);
  return {
    ok: true,
    completion: {
      ...completionIdentity(),
      model: request.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content },
          logprobs: request.logprobs
            ? { content: tokens.map((t) => tokenLogprob(t.text, confidence ?? t.p)) }
            : null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: tokens.length,
        total_tokens: promptTokens + tokens.length,
      },
    },
  };
}
