/** Why a trash operation was refused: a stable code and the HTTP status the admin API answers with. */
export type TrashErrorCode =
  | 'BERTH_TRASH_ENTRY_NOT_FOUND' // 404: no such entry (restored, emptied, or never there)
  | 'BERTH_TRASH_EXPIRED' // 410: its retention ran out; the next garbage collection frees it
  | 'BERTH_TRASH_TAG_TAKEN' // 409: a tag to restore now names another manifest (restore with force, or as another tag)
  | 'BERTH_TRASH_CONTENT_GONE' // 410: blobs the entry needs are no longer stored
  | 'BERTH_TRASH_INVALID'; // 400: a request that cannot apply to this entry (a tag name for a repository entry, ...)

const statusOf: Record<TrashErrorCode, number> = {
  BERTH_TRASH_ENTRY_NOT_FOUND: 404,
  BERTH_TRASH_EXPIRED: 410,
  BERTH_TRASH_TAG_TAKEN: 409,
  BERTH_TRASH_CONTENT_GONE: 410,
  BERTH_TRASH_INVALID: 400,
};

export class TrashError extends Error {
  override readonly name = 'TrashError';
  readonly status: number;
  constructor(
    readonly code: TrashErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.status = statusOf[code];
  }
}

export const isTrashError = (error: unknown): error is TrashError => error instanceof TrashError;
