/** Media types are long; the last part says enough (`…image.layer.v1.tar+gzip`). */
export function shortMediaType(mediaType: string): string {
  const slash = mediaType.lastIndexOf('/');
  return slash === -1 ? mediaType : mediaType.slice(slash + 1);
}
