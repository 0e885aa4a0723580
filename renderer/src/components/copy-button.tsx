import { ActionIcon, Button, Tooltip } from '@mantine/core';
import { useEffect, useState } from 'react';
import { IconCheck, IconCopy } from './icons.js';

/**
 * Copies text to the clipboard. `navigator.clipboard` needs a secure context (https or localhost); when the
 * GUI is opened over plain http on a LAN address we fall back to a hidden textarea and `execCommand`.
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Permission denied or not focused: try the fallback below.
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

function useCopied(): [boolean, (text: string) => void] {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = window.setTimeout(() => setCopied(false), 1600);
    return () => window.clearTimeout(timer);
  }, [copied]);
  return [copied, (text) => void copyText(text).then(setCopied)];
}

/** An icon button; `label` is its accessible name ("Copy pull command"). */
export function CopyIconButton({ value, label = 'Copy' }: { value: string; label?: string }) {
  const [copied, copy] = useCopied();
  return (
    <Tooltip label={copied ? 'Copied' : label} withArrow>
      <ActionIcon variant="subtle" color={copied ? 'teal' : 'gray'} aria-label={label} onClick={() => copy(value)}>
        {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
      </ActionIcon>
    </Tooltip>
  );
}

/** A labelled button, for the places where copying is the main action (the token secret). */
export function CopyTextButton({ value, label = 'Copy' }: { value: string; label?: string }) {
  const [copied, copy] = useCopied();
  return (
    <Button
      variant={copied ? 'light' : 'filled'}
      color={copied ? 'teal' : undefined}
      leftSection={copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
      onClick={() => copy(value)}
    >
      {copied ? 'Copied' : label}
    </Button>
  );
}
