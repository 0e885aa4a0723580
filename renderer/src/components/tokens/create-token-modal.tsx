import { Button, Group, Modal, Select, Stack, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { api } from '../../api/client.js';
import { adminRoutes, type CreateTokenRequest, type CreateTokenResponse } from '../../api/contract.js';
import { ErrorAlert } from '../error-alert.js';
import { newScope, ScopeBuilder, scopeStrings, type ScopeDraft } from './scope-builder.js';

const expiries = [
  { value: 'never', label: 'Never' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: '1y', label: '1 year' },
];

const namePattern = /^[a-zA-Z0-9._-]{1,64}$/;

export interface CreateTokenModalProps {
  opened: boolean;
  namespaces: string[];
  onClose: () => void;
  onCreated: (created: CreateTokenResponse) => void;
}

/** Name, scopes and expiry; checks locally what it can so the server's 400 is the exception. */
export function CreateTokenModal({ opened, namespaces, onClose, onCreated }: CreateTokenModalProps) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('90d');
  const [scopes, setScopes] = useState<ScopeDraft[]>(() => [newScope('*')]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [touched, setTouched] = useState(false);

  const nameError = touched && !namePattern.test(name) ? 'Use 1–64 letters, digits, dots, dashes or underscores, e.g. ci-builder' : undefined;
  const scopeList = scopeStrings(scopes);

  const reset = () => {
    setName('');
    setExpiry('90d');
    setScopes([newScope('*')]);
    setError(undefined);
    setTouched(false);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (!namePattern.test(name)) return;
    if (scopeList.length === 0) {
      setError(new Error('Give the token at least one scope with a pattern and an action.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const body: CreateTokenRequest = { name, scopes: scopeList, expiresIn: expiry === 'never' ? null : expiry };
      const created = await api.post<CreateTokenResponse>(adminRoutes.tokens, body);
      reset();
      onCreated(created);
    } catch (reason) {
      setError(reason);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal opened={opened} onClose={onClose} title="Create access token" size="lg" centered>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="md">
          <TextInput
            label="Token name"
            description="Also the username for docker login. Pick something that says who uses it."
            placeholder="ci-builder"
            value={name}
            onChange={(event) => setName(event.currentTarget.value)}
            onBlur={() => setTouched(true)}
            error={nameError}
            required
            data-autofocus
          />
          <ScopeBuilder value={scopes} onChange={setScopes} namespaces={namespaces} />
          <Select
            label="Expires"
            data={expiries}
            value={expiry}
            onChange={(value) => setExpiry(value ?? 'never')}
            allowDeselect={false}
            w={200}
          />
          {error !== undefined && <ErrorAlert error={error} />}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy}>
              Create token
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
