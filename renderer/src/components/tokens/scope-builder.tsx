import { ActionIcon, Autocomplete, Button, Checkbox, Group, Stack, Text } from '@mantine/core';
import type { ScopeAction } from '../../api/contract.js';
import { IconPlus, IconX } from '../icons.js';

export interface ScopeDraft {
  key: number;
  pattern: string;
  actions: Record<ScopeAction, boolean>;
}

const actionNames: ScopeAction[] = ['pull', 'push', 'delete'];
let nextKey = 1;

export function newScope(pattern = ''): ScopeDraft {
  nextKey += 1;
  return { key: nextKey, pattern, actions: { pull: true, push: false, delete: false } };
}

/** Drafts → the API's CLI form (`team/*:pull,push`); rows without a pattern or an action are skipped. */
export function scopeStrings(drafts: ScopeDraft[]): string[] {
  return drafts
    .map((draft) => ({ pattern: draft.pattern.trim(), actions: actionNames.filter((action) => draft.actions[action]) }))
    .filter((draft) => draft.pattern !== '' && draft.actions.length > 0)
    .map((draft) => `${draft.pattern}:${draft.actions.join(',')}`);
}

/**
 * One row per scope: a repository pattern (`*`, `team/*`, `team/app`) and the actions it grants. Namespaces
 * already known are offered as `name/*`.
 */
export function ScopeBuilder({ value, onChange, namespaces }: { value: ScopeDraft[]; onChange: (next: ScopeDraft[]) => void; namespaces: string[] }) {
  const suggestions = ['*', ...namespaces.map((name) => `${name}/*`)];
  const update = (key: number, change: Partial<ScopeDraft>) => onChange(value.map((draft) => (draft.key === key ? { ...draft, ...change } : draft)));
  return (
    <Stack gap="xs">
      <Text size="sm" fw={500}>
        Scopes
      </Text>
      <Text size="xs" c="dimmed" mt={-6}>
        <code>*</code> is every repository, <code>team/*</code> a namespace and everything in it, <code>team/app</code> one repository.
      </Text>
      {value.map((draft, index) => (
        <Group key={draft.key} gap="sm" align="center" wrap="wrap" role="group" aria-label={`Scope ${index + 1}`}>
          <Autocomplete
            aria-label={`Scope ${index + 1} repository pattern`}
            placeholder="team/*"
            data={suggestions}
            value={draft.pattern}
            onChange={(pattern) => update(draft.key, { pattern })}
            w={220}
          />
          {/* Named by their visible label alone ("push"); the row's group says which scope (WCAG 2.5.3). */}
          {actionNames.map((action) => (
            <Checkbox
              key={action}
              label={action}
              checked={draft.actions[action]}
              onChange={(event) => update(draft.key, { actions: { ...draft.actions, [action]: event.currentTarget.checked } })}
            />
          ))}
          {value.length > 1 && (
            <ActionIcon variant="subtle" color="gray" aria-label={`Remove scope ${index + 1}`} onClick={() => onChange(value.filter((entry) => entry.key !== draft.key))}>
              <IconX size={16} />
            </ActionIcon>
          )}
        </Group>
      ))}
      <div>
        <Button variant="subtle" size="xs" leftSection={<IconPlus size={14} />} onClick={() => onChange([...value, newScope()])}>
          Add scope
        </Button>
      </div>
    </Stack>
  );
}
