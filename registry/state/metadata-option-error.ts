/** A mistake in `--metadata`/`BERTH_METADATA` or what goes with it (password file, master key): said in the option's terms; the CLI exits 2 on it. */
export class MetadataOptionError extends Error {
  readonly code = 'BERTH_METADATA_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'MetadataOptionError';
  }
}
