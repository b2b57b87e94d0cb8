import { useId } from 'preact/hooks';

/**
 * A form generated from a task's output schema (the JSON Schema of the zod schema in core/tasks.ts): objects
 * become groups, arrays of objects become rows that can be added and removed, strings become text fields
 * (an empty optional field is `null`). The console checks the result against the same zod schema before it
 * sends an edit, so an edit can only be a schema-valid output.
 */

export type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
};

type FieldProps = {
  schema: JsonSchema;
  value: unknown;
  onChange: (value: unknown) => void;
  label: string;
  disabled: boolean;
  /** Field problems by dotted path ("medications.0.dose"). */
  problems: Record<string, string>;
  path: string;
};

/** `keyFindings` → "Key findings"; `medications` as an item → "Medication". */
export function labelOf(name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
const singular = (label: string) => label.replace(/s$/, '');

/** A string schema, and whether `null` is allowed (zod's `.nullable()` is `anyOf: [string, null]`). */
function stringSchema(schema: JsonSchema): { schema: JsonSchema; nullable: boolean } | null {
  if (schema.type === 'string') return { schema, nullable: false };
  const options = schema.anyOf ?? [];
  const s = options.find((o) => o.type === 'string');
  if (s && options.some((o) => o.type === 'null')) return { schema: s, nullable: true };
  return null;
}

/** An empty value of a schema, for a new row. */
export function emptyOf(schema: JsonSchema): unknown {
  const str = stringSchema(schema);
  if (str) return str.nullable ? null : '';
  if (schema.type === 'array') return [];
  if (schema.type === 'object') {
    return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, emptyOf(s)]));
  }
  return null;
}

export function SchemaField(props: FieldProps) {
  const { schema } = props;
  const str = stringSchema(schema);
  if (str) return <StringField {...props} schema={str.schema} nullable={str.nullable} />;
  if (schema.type === 'array') return <ArrayField {...props} />;
  if (schema.type === 'object') return <ObjectField {...props} />;
  return <p>Unsupported field: {props.label}</p>;
}

function ObjectField({ schema, value, onChange, label, disabled, problems, path }: FieldProps) {
  const current = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const fields = Object.entries(schema.properties ?? {});
  return (
    <fieldset class="schema-object">
      <legend>{label}</legend>
      <div class="schema-object-fields">
        {fields.map(([name, sub]) => (
          <SchemaField
            key={name}
            schema={sub}
            value={current[name]}
            label={labelOf(name)}
            disabled={disabled}
            problems={problems}
            path={path ? `${path}.${name}` : name}
            onChange={(v) => onChange({ ...current, [name]: v })}
          />
        ))}
      </div>
    </fieldset>
  );
}

function ArrayField({ schema, value, onChange, label, disabled, problems, path }: FieldProps) {
  const rows = Array.isArray(value) ? value : [];
  const item = schema.items ?? {};
  const itemLabel = singular(label);
  const full = schema.maxItems !== undefined && rows.length >= schema.maxItems;
  return (
    <section class="schema-array" aria-label={label}>
      <h3>
        {label} <span class="count">({rows.length})</span>
      </h3>
      {rows.length === 0 && <p class="muted">None.</p>}
      <ol class="schema-rows">
        {rows.map((row, i) => (
          <li key={i} class="schema-row">
            <SchemaField
              schema={item}
              value={row}
              label={`${itemLabel} ${i + 1}`}
              disabled={disabled}
              problems={problems}
              path={`${path}.${i}`}
              onChange={(v) => onChange(rows.map((r, j) => (j === i ? v : r)))}
            />
            {!disabled && (
              <button
                type="button"
                class="secondary small"
                onClick={() => onChange(rows.filter((_, j) => j !== i))}
              >
                Remove {itemLabel.toLowerCase()} {i + 1}
              </button>
            )}
          </li>
        ))}
      </ol>
      {!disabled && !full && (
        <button type="button" class="secondary small" onClick={() => onChange([...rows, emptyOf(item)])}>
          Add {itemLabel.toLowerCase()}
        </button>
      )}
    </section>
  );
}

function StringField({
  schema,
  nullable,
  value,
  onChange,
  label,
  disabled,
  problems,
  path,
}: FieldProps & { nullable: boolean }) {
  const id = useId();
  const problem = problems[path];
  const current = typeof value === 'string' ? value : '';
  const long = (schema.maxLength ?? 0) > 1_000;
  const common = {
    id,
    name: path,
    value: current,
    disabled,
    maxLength: schema.maxLength,
    required: !nullable && (schema.minLength ?? 0) > 0,
    'aria-invalid': problem ? ('true' as const) : undefined,
    'aria-describedby': problem ? `${id}-problem` : undefined,
    onInput: (e: Event) => {
      const v = (e.currentTarget as HTMLInputElement).value;
      onChange(nullable && v === '' ? null : v);
    },
  };
  return (
    <div class={`field${long ? ' wide' : ''}`}>
      <label for={id}>
        {label}
        {nullable && <span class="muted"> (optional)</span>}
      </label>
      {long ? (
        <textarea {...common} rows={5} />
      ) : (
        <input type="text" {...common} {...(schema.pattern ? { pattern: schema.pattern } : {})} />
      )}
      {problem && (
        <p class="problem" id={`${id}-problem`}>
          {problem}
        </p>
      )}
    </div>
  );
}
