import { isDigest } from '../core/digest.js';
import { isRepositoryName, isTag } from '../core/names.js';
import type { PinRecord, State } from '../state/index.js';

/**
 * Pins: images retention never removes (`berth pin team/app:1`, the GUI's pin toggle), so an offline laptop keeps
 * what matters however old or unpulled it is. A pin names a tag or a manifest digest of one repository; what a pin
 * protects is decided by the retention plan (lifecycle/retention-plan.ts): a pinned tag keeps the tag, the manifest
 * it points at and that manifest's platforms; a pinned digest keeps the manifest and every tag pointing at it.
 *
 * Stored in the app state (`State.pins`), which every node of a cluster shares. A pin of something that is not
 * stored (yet, or any more) is allowed: pinning before a pull-through fetch keeps the image from its first pull on.
 */

/** Why a pin is refused: names and references as the registry grammar has them, so nothing odd lands in the state. */
export class PinError extends Error {
  override readonly name = 'PinError';
  readonly code = 'BERTH_PIN_INVALID';
}

export function checkPinTarget(repository: string, reference: string): void {
  if (!isRepositoryName(repository)) throw new PinError(`invalid repository name "${repository.slice(0, 120)}"`);
  if (!isTag(reference) && !isDigest(reference)) throw new PinError(`"${reference.slice(0, 120)}" is neither a tag nor a digest`);
}

export function findPin(state: Pick<State, 'pins'>, repository: string, reference: string): PinRecord | undefined {
  return state.pins.find((pin) => pin.repository === repository && pin.reference === reference);
}

/** Adds a pin inside a state update; returns it and whether it is new (pinning twice is no change). */
export function addPin(draft: Pick<State, 'pins'>, repository: string, reference: string, by: string, now = new Date()): { pin: PinRecord; added: boolean } {
  checkPinTarget(repository, reference);
  const existing = findPin(draft, repository, reference);
  if (existing) return { pin: existing, added: false };
  const pin: PinRecord = { repository, reference, createdAt: now.toISOString(), by };
  draft.pins.push(pin);
  return { pin, added: true };
}

/** Removes a pin inside a state update; false when there was none. */
export function removePin(draft: Pick<State, 'pins'>, repository: string, reference: string): boolean {
  const existing = findPin(draft, repository, reference);
  if (!existing) return false;
  draft.pins.splice(draft.pins.indexOf(existing), 1);
  return true;
}

/** Pins in display order: by repository, then reference. */
export function listPins(state: Pick<State, 'pins'>, repository?: string): PinRecord[] {
  return state.pins
    .filter((pin) => repository === undefined || pin.repository === repository)
    .sort((a, b) => (a.repository === b.repository ? (a.reference < b.reference ? -1 : 1) : a.repository < b.repository ? -1 : 1));
}
